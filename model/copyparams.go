package model

import (
	"fmt"
	"slices"
)

// CopyParams sets dst's parameters to src's: the start of a run that
// fine-tunes, or trains on from, a trained model. The two must have the
// same parameters (names and shapes, in order), as models of one
// configuration have whatever their dropout and seed.
func CopyParams(dst, src Model) error {
	d, s := dst.Params(), src.Params()
	if len(d) != len(s) {
		return fmt.Errorf("model: %d parameters to set from %d", len(d), len(s))
	}
	for i := range d {
		if d[i].Name != s[i].Name || !slices.Equal(d[i].Shape, s[i].Shape) {
			return fmt.Errorf("model: parameter %d is %s %v, the trained model's %s %v", i, d[i].Name, d[i].Shape, s[i].Name, s[i].Shape)
		}
	}
	for i := range d {
		copy(d[i].Data, s[i].Data)
	}
	return nil
}
