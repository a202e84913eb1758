package main

import "github.com/spf13/cobra"

// benchCmd is `qkv bench`: performance measurements that print one JSON line
// per measurement, in the same form as the peers in ../shared/bench/peers so
// that the two can be compared side by side. Subcommands add themselves to it.
var benchCmd = &cobra.Command{
	Use:   "bench",
	Short: "Measure performance (GEMM, training, decoding); prints JSON lines",
}

func init() {
	rootCmd.AddCommand(benchCmd)
}
