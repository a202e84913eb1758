package checkpoint

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/qkv-dev/qkv/tensor"
)

// Average writes to out the element-wise mean of the tensors of the files
// at paths, as fairseq's average_checkpoints.py and OpenNMT's average_models
// do: averaging the weights of the last few checkpoints of a run usually
// decodes better than any one of them (Vaswani et al. 2017, §6.1, averaged
// the last 5 or 20). Every file must hold the same tensor names with the
// same shapes; an error names the file and tensor that differ. The sums are
// kept in float64. out is written atomically with metadata "averaged" (the
// paths, comma-separated); it may be one of paths.
func Average(out string, paths []string) error {
	return AverageOf(out, paths, func(path string) (map[string]Array, error) {
		arrays, _, err := ReadAll(path)
		return arrays, err
	})
}

// AverageOf is Average over weights that read returns by the names given
// (files on disk, or weights held elsewhere, such as a model built into
// the binary); messages and the metadata call them by those names.
func AverageOf(out string, paths []string, read func(name string) (map[string]Array, error)) error {
	if len(paths) == 0 {
		return errors.New("checkpoint: average: no files")
	}
	var (
		names []string
		shape = map[string][]int{}
		sums  = map[string][]float64{}
	)
	for i, p := range paths {
		arrays, err := read(p)
		if err != nil {
			return err
		}
		if i == 0 {
			for name, a := range arrays {
				names = append(names, name)
				shape[name] = a.Shape
				sums[name] = make([]float64, len(a.Data))
			}
			slices.Sort(names)
		} else {
			for name := range arrays {
				if _, ok := shape[name]; !ok {
					return errorf(p, name, "not in %s", paths[0])
				}
			}
		}
		for _, name := range names {
			a, ok := arrays[name]
			if !ok {
				return errorf(p, name, "missing (it is in %s)", paths[0])
			}
			if !slices.Equal(a.Shape, shape[name]) {
				return errorf(p, name, "shape %v, but %v in %s", a.Shape, shape[name], paths[0])
			}
			s := sums[name]
			for j, v := range a.Data {
				s[j] += float64(v)
			}
		}
	}
	n := float64(len(paths))
	tensors := make([]*tensor.Tensor, len(names))
	for i, name := range names {
		data := make([]float32, len(sums[name]))
		for j, v := range sums[name] {
			data[j] = float32(v / n)
		}
		t := tensor.FromData(data, shape[name]...)
		t.Name = name
		tensors[i] = t
	}
	if err := Save(out, tensors, map[string]string{"averaged": strings.Join(paths, ",")}); err != nil {
		return fmt.Errorf("checkpoint: average: %w", err)
	}
	return nil
}
