package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/kernels"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/nn"
	"github.com/qkv-dev/qkv/tensor"
)

// Int8 is the value of Config.Quantized for int8 weights.
const Int8 = "int8"

// A quantized model directory (Config.Quantized = "int8") is a model
// directory whose best.safetensors holds every Linear weight of the model
// (model.Quantizable) as I8, (Out, In), with its per-output-channel scales
// as F32 (Out) under the weight's name with "_scale" appended
// ("decoder.layers.0.ff.linear1.weight_scale"), and every other parameter
// (embeddings, layer norms, biases) as F32. Its metadata says
// "quantized": "int8" too.

// scaleName is the name of the scales of the weight called name.
func scaleName(name string) string { return name + "_scale" }

// quantizableLinears returns the model's Linear layers, or an error naming
// the architecture when it has none that qkv quantizes.
func quantizableLinears(m model.Model) ([]*nn.Linear, error) {
	q, ok := m.(model.Quantizable)
	if !ok {
		return nil, fmt.Errorf("int8 weights are implemented for the transformer, not for --arch %s", m.Config().Arch)
	}
	return q.Linears(), nil
}

// loadQuantized fills p's model from a quantized weights file and makes
// its Linear layers compute in int8.
func (p *Pipeline) loadQuantized(weights string) error {
	if p.Config.Quantized != Int8 {
		return fmt.Errorf("%s: quantized %q is not a format qkv knows (int8)", filepath.Join(p.Dir, ConfigFile), p.Config.Quantized)
	}
	linears, err := quantizableLinears(p.Model)
	if err != nil {
		return fmt.Errorf("%s: %w", p.Dir, err)
	}
	meta, err := checkpoint.ReadMetadata(weights)
	if err != nil {
		return err
	}
	if meta["quantized"] != Int8 {
		return fmt.Errorf("%s is not int8 weights (its metadata has no \"quantized\": \"int8\"), but %s is a quantized model: load the weights qkv quantize wrote", weights, p.Dir)
	}
	isInt8 := map[string]bool{}
	into := p.Model.Params()
	scales := make([]*tensor.Tensor, len(linears))
	for i, l := range linears {
		isInt8[l.Weight.Name] = true
		scales[i] = tensor.NewParam(scaleName(l.Weight.Name), l.Weight.Shape[0])
	}
	into = append(append([]*tensor.Tensor(nil), into...), scales...)
	extra, err := checkpoint.LoadQuantized(weights, into, func(name string) bool { return isInt8[name] })
	if err != nil {
		return err
	}
	if err := refuseUnused(weights, extra); err != nil {
		return err
	}
	for i, l := range linears {
		n, k := l.Weight.Shape[0], l.Weight.Cols()
		data := make([]int8, n*k)
		for j, v := range l.Weight.Data {
			if v != float32(int8(v)) || v < -127 {
				return fmt.Errorf("%s: %s holds %v at %d, not an int8 weight: a quantized model stores its Linear weights as I8 (qkv quantize)", weights, l.Weight.Name, v, j)
			}
			data[j] = int8(v)
		}
		q, err := kernels.NewInt8Matrix(data, scales[i].Data, n, k)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", weights, l.Weight.Name, err)
		}
		if err := l.SetInt8(q); err != nil {
			return err
		}
	}
	return nil
}

// Quantize writes p as a quantized model directory out (see Int8): int8
// weights with per-output-channel scales for every Linear layer, the other
// parameters as they are, the configuration (marked quantized), the
// vocabularies and BPE merges. out must not exist, or be an empty
// directory; the directory appears whole or not at all (it is written
// under a temporary name beside out and renamed). p must be a model
// directory that is not quantized already.
func (p *Pipeline) Quantize(out string) error {
	if p.Config.Quantized != "" {
		return fmt.Errorf("%s is already quantized (%s): quantize the model it was made from", p.Dir, p.Config.Quantized)
	}
	linears, err := quantizableLinears(p.Model)
	if err != nil {
		return err
	}
	out = filepath.Clean(out)
	if abs, err1 := filepath.Abs(out); err1 == nil {
		if src, err2 := filepath.Abs(p.Dir); err2 == nil && (abs == src || strings.HasPrefix(abs, src+string(os.PathSeparator))) {
			return fmt.Errorf("--out %s is inside the model directory %s: write the quantized model beside it, never over it", out, p.Dir)
		}
	}
	if ents, err := os.ReadDir(out); err == nil && len(ents) > 0 {
		return fmt.Errorf("--out %s already holds files: choose a new directory", out)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--out: %w", err)
	}
	// Quantize first, so a bad weight fails before anything is written.
	qs := map[string]*kernels.Int8Matrix{}
	for _, l := range linears {
		n, k := l.Weight.Shape[0], l.Weight.Cols()
		q, err := kernels.QuantizeWeights(l.Weight.Data, n, k)
		if err != nil {
			return fmt.Errorf("%s: %w", l.Weight.Name, err)
		}
		qs[l.Weight.Name] = q
	}
	var tensors []*tensor.Tensor
	var dtypes []checkpoint.DType
	for _, t := range p.Model.Params() {
		q, ok := qs[t.Name]
		if !ok {
			tensors, dtypes = append(tensors, t), append(dtypes, checkpoint.F32)
			continue
		}
		w := &tensor.Tensor{Name: t.Name, Shape: t.Shape, Data: make([]float32, len(q.Data))}
		for i, v := range q.Data {
			w.Data[i] = float32(v)
		}
		s := &tensor.Tensor{Name: scaleName(t.Name), Shape: []int{q.N}, Data: q.Scale}
		tensors, dtypes = append(tensors, w, s), append(dtypes, checkpoint.I8, checkpoint.F32)
	}
	parent := filepath.Dir(out)
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".qkv-tmp-")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	// MkdirTemp makes the directory private (0700); the model it becomes
	// is as readable as a training run's directory and its 0644 files, so
	// that a server running as another user can load it.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	cfg := p.Config
	cfg.Quantized = Int8
	if err := checkpoint.SaveJSON(filepath.Join(tmp, ConfigFile), cfg); err != nil {
		return err
	}
	for _, name := range []string{SrcVocabFile, TgtVocabFile, SrcBPEFile, TgtBPEFile} {
		b, err := p.readFile(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(tmp, name), b); err != nil {
			return err
		}
	}
	meta := map[string]string{"quantized": Int8, "quantized_from": p.Dir}
	if err := checkpoint.SaveMixed(filepath.Join(tmp, BestFile), tensors, dtypes, meta); err != nil {
		return err
	}
	if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) { // an empty directory
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	done = true
	return nil
}
