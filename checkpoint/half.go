package checkpoint

import (
	"fmt"
	"math"
	"strings"
)

// DType is how a file stores its values. qkv computes in float32; a file
// may store them in half precision to be half the size (a shipped model,
// say), and loading converts them back to float32.
//
//	F32   IEEE 754 binary32: exact.
//	F16   IEEE 754 binary16: 10-bit mantissa (about 3 decimal digits),
//	      largest finite 65504, subnormals down to 2^-24.
//	BF16  bfloat16, the top half of a binary32: float32's range, 7-bit
//	      mantissa (about 2 decimal digits).
//
// Writing rounds to the nearest representable value, ties to even, as
// PyTorch's .half() and .bfloat16() do.
type DType string

// The dtypes qkv reads and writes (safetensors' names).
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	// I8 holds quantized weights (qkv quantize): integers −127…127, read
	// as those values; the scales that make them weights are F32 tensors
	// beside them (see SaveMixed).
	I8 DType = "I8"
)

// ParseDType reads a dtype as a user writes it: f32, f16 (or fp16,
// float16, half), bf16 (or bfloat16), in any case.
func ParseDType(s string) (DType, error) {
	switch strings.ToLower(s) {
	case "f32", "fp32", "float32", "float":
		return F32, nil
	case "f16", "fp16", "float16", "half":
		return F16, nil
	case "bf16", "bfloat16":
		return BF16, nil
	}
	return "", fmt.Errorf("unknown dtype %q: use f32, f16 or bf16", s)
}

// size is the bytes per value.
func (d DType) size() int {
	switch d {
	case F32:
		return 4
	case I8:
		return 1
	}
	return 2
}

// readable reports whether qkv converts values of this dtype to float32.
func (d DType) readable() bool { return d == F32 || d == F16 || d == BF16 || d == I8 }

// uniform reports whether a whole file may be stored as d (SaveAs): I8
// only stores integers, tensor by tensor (SaveMixed).
func (d DType) uniform() bool { return d == F32 || d == F16 || d == BF16 }

// F16Max is the largest finite binary16 value.
const F16Max = 65504

// ToF16 rounds v to the nearest binary16 value (ties to even) and returns
// its bits. A value beyond ±65504 (after rounding) becomes ±Inf, a NaN a
// quiet NaN: callers that must not store those check first (see Write).
func ToF16(v float32) uint16 {
	b := math.Float32bits(v)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	switch {
	case exp == 0xff: // Inf or NaN
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp > 127+15: // 2^16 and above: too large even before rounding
		return sign | 0x7c00
	case exp >= 127-14: // a normal binary16 (or rounds up to Inf)
		// 13 mantissa bits are dropped; rounding may carry into the
		// exponent, which is exactly the next binary16 value (or Inf).
		h := uint32(exp-127+15)<<10 | man>>13
		rest := man & 0x1fff
		if rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	case exp >= 127-25: // a binary16 subnormal (or rounds up to the smallest normal)
		// value = 1.man × 2^(exp-127) = m × 2^-24 with m = (1.man) × 2^(exp-127+24)
		full := man | 0x800000   // 24 significant bits
		shift := uint(126 - exp) // bits dropped: 23 - (exp - 127 + 24) = 126 - exp, 14 to 24
		h := full >> shift
		rest := full & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rest > half || (rest == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	default: // below half the smallest subnormal: ±0
		return sign
	}
}

// FromF16 returns the float32 value of binary16 bits (exact).
func FromF16(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0:
		// ±0 or a subnormal, man × 2^-24: exact in float32
		v := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}

// ToBF16 rounds v to the nearest bfloat16 value (ties to even) and returns
// its bits. A finite value so large it rounds past float32's largest
// becomes ±Inf; a NaN stays a (quiet) NaN.
func ToBF16(v float32) uint16 {
	b := math.Float32bits(v)
	if b&0x7f800000 == 0x7f800000 && b&0x7fffff != 0 {
		return uint16(b>>16) | 0x40 // NaN: keep it one, quietly
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// FromBF16 returns the float32 value of bfloat16 bits (exact).
func FromBF16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// toHalf rounds v to dtype d (F16 or BF16).
func toHalf(v float32, d DType) uint16 {
	if d == F16 {
		return ToF16(v)
	}
	return ToBF16(v)
}

// encodeHalf writes data as d's little-endian bits to dst (checkHalf has
// passed).
func encodeHalf(data []float32, d DType, dst []byte) {
	for i, v := range data {
		h := toHalf(v, d)
		dst[2*i], dst[2*i+1] = byte(h), byte(h>>8)
	}
}

// checkHalf refuses a value that is not finite or does not fit in d: a
// model stored with an infinity would decode to nonsense, and loading
// refuses it anyway.
func checkHalf(name string, data []float32, d DType) error {
	for i, v := range data {
		if toHalf(v, d)&0x7fff >= nonFiniteHalf(d) {
			what := "is not finite"
			if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) {
				what = fmt.Sprintf("is too large for %s (largest %g)", d, maxHalf(d))
			}
			return fmt.Errorf("tensor %q: value %g at index %d %s: store the weights as %s", name, v, i, what, betterDType(d))
		}
	}
	return nil
}

// nonFiniteHalf is the smallest magnitude bit pattern (sign cleared) of
// dtype that is Inf or NaN.
func nonFiniteHalf(d DType) uint16 {
	if d == F16 {
		return 0x7c00
	}
	return 0x7f80
}

func maxHalf(d DType) float64 {
	if d == F16 {
		return F16Max
	}
	return float64(FromBF16(0x7f7f))
}

func betterDType(d DType) string {
	if d == F16 {
		return "bf16 (float32's range) or f32"
	}
	return "f32"
}
