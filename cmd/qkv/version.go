package main

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/internal/buildinfo"
	"github.com/qkv-dev/qkv/kernels"
)

// versionCmd prints which build is running and what this machine lets its
// kernels use: what a bug report needs, and what run.json records as the
// "program" of every run.
var versionCmd = &cobra.Command{
	Use:   "version",
	Short: "Print qkv's version, commit and Go toolchain, and the kernels this machine runs",
	Long: `Print qkv's version, the commit it was built from ("+dirty" when the work
tree had changes) and the Go toolchain, then the kernels this machine runs
(the GEMM implementation chosen by the CPU's features) and its cores.
"qkv --version" prints the first line only.`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, _ []string) error {
		w := cmd.OutOrStdout()
		fmt.Fprintln(w, buildinfo.Read())
		fmt.Fprintf(w, "kernels: fp32 %s, bf16 %s, int8 %s (available: %s); cores: %d of %d\n",
			kernels.Impl(), kernels.BF16Impl(), kernels.Int8Impl(), strings.Join(kernels.Impls(), ", "), runtime.GOMAXPROCS(0), runtime.NumCPU())
		return nil
	},
}

func init() {
	rootCmd.AddCommand(versionCmd)
	rootCmd.Version = buildinfo.Read().String()
	rootCmd.SetVersionTemplate("{{.Version}}\n")
}
