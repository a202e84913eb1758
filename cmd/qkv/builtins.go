package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/models"
	"github.com/qkv-dev/qkv/pipeline"
)

// modelsCmd lists the models embedded in the binary, so that a user can
// choose a builtin:NAME without reading the source tree.
var modelsCmd = &cobra.Command{
	Use:   "models",
	Short: "List the models built into the binary (builtin:NAME), with their test accuracy",
	Long: `Lists every model built into this binary, usable wherever a model directory
is accepted as builtin:NAME: what it is (its architecture, or the members of a
built-in ensemble), the size of its weights, the decoding chosen for it on
validation data, and its WER and PER on the test set of the standard CMUdict
split (scored once, as its card says). The one qkv g2p uses by default is
marked. --json prints one JSON object a line instead.`,
	Args: cobra.NoArgs,
	RunE: runModels,
}

var modelsJSON bool

func init() {
	modelsCmd.Flags().BoolVar(&modelsJSON, "json", false, "one JSON object a line: name, kind, members, bytes, weights_sha256, and the card's fields")
	rootCmd.AddCommand(modelsCmd)
}

// builtinInfo is one line of qkv models.
type builtinInfo struct {
	Name    string   `json:"name"`              // builtin:NAME
	Kind    string   `json:"kind"`              // transformer, rnnsearch, seq2seq or ensemble
	Members []string `json:"members,omitempty"` // an ensemble's members, as builtin:NAME
	Bytes   int64    `json:"bytes"`             // the weights embedded for it (its members' for an ensemble)
	// WeightsSHA256 is the SHA-256 of those weights (an ensemble's: of its
	// members' files one after the other, in order): what a script keys
	// its cached scores by, so a rebuilt binary with the same model is
	// known as the same system.
	WeightsSHA256 string      `json:"weights_sha256"`
	Default       bool        `json:"g2p_default"`
	Card          models.Card `json:"card"`
}

func builtinInfos() ([]builtinInfo, error) {
	best := models.Best()
	var out []builtinInfo
	for _, name := range pipeline.Builtins() {
		card, err := models.ReadCard(name)
		if err != nil {
			return nil, err
		}
		members, err := pipeline.BuiltinMembers(name)
		if err != nil {
			return nil, err
		}
		info := builtinInfo{Name: pipeline.BuiltinPrefix + name, Default: name == best, Card: card}
		weightsOf := []string{name}
		if len(members) > 0 {
			info.Kind = "ensemble"
			weightsOf = members
			for _, m := range members {
				info.Members = append(info.Members, pipeline.BuiltinPrefix+m)
			}
		} else {
			b, err := fs.ReadFile(models.FS, name+"/"+pipeline.ConfigFile)
			if err != nil {
				return nil, fmt.Errorf("%s%s: %w", pipeline.BuiltinPrefix, name, err)
			}
			var cfg struct {
				Model struct {
					Arch string `json:"arch"`
				} `json:"model"`
			}
			if err := json.Unmarshal(b, &cfg); err != nil {
				return nil, fmt.Errorf("%s%s/%s: %w", pipeline.BuiltinPrefix, name, pipeline.ConfigFile, err)
			}
			info.Kind = cfg.Model.Arch
		}
		h := sha256.New()
		for _, m := range weightsOf {
			b, err := fs.ReadFile(models.FS, m+"/"+pipeline.BestFile)
			if err != nil {
				return nil, fmt.Errorf("%s%s: %w", pipeline.BuiltinPrefix, m, err)
			}
			info.Bytes += int64(len(b))
			h.Write(b)
		}
		info.WeightsSHA256 = hex.EncodeToString(h.Sum(nil))
		out = append(out, info)
	}
	return out, nil
}

func runModels(cmd *cobra.Command, _ []string) error {
	infos, err := builtinInfos()
	if err != nil {
		return fmt.Errorf("models: %w", err)
	}
	w := cmd.OutOrStdout()
	if modelsJSON {
		enc := json.NewEncoder(w)
		for _, in := range infos {
			if err := enc.Encode(in); err != nil {
				return err
			}
		}
		return nil
	}
	if len(infos) == 0 {
		fmt.Fprintln(w, "this binary holds no built-in models")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tWHAT\tWEIGHTS\tDECODING\tTEST WER %\tTEST PER %")
	for _, in := range infos {
		what := in.Kind
		if in.Kind == "ensemble" {
			what = "ensemble: " + strings.Join(in.Card.Members, " + ")
		}
		name := in.Name
		if in.Default {
			name += " *"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f MB %s\tbeam %d, α %g\t%.2f\t%.2f\n", name, what,
			float64(in.Bytes)/1e6, in.Card.DType, in.Card.Beam, in.Card.Alpha, in.Card.TestWER, in.Card.TestPER)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "* qkv g2p's default: the lowest test WER. Test: the standard CMUdict split's 12,000 words, never seen in training.")
	return nil
}
