//go:build purego || !amd64

package kernels

func axpy(alpha float32, x, y []float32)           { axpyGeneric(alpha, x, y) }
func scale(alpha float32, x []float32)             { scaleGeneric(alpha, x) }
func add(dst, a, b []float32)                      { addGeneric(dst, a, b) }
func mul(dst, a, b []float32)                      { mulGeneric(dst, a, b) }
func dot(x, y []float32) float32                   { return dotGeneric(x, y) }
func sum(x []float32) float32                      { return sumGeneric(x) }
func maxf(x []float32) float32                     { return maxGeneric(x) }
func expShift(dst, x []float32, s float32) float32 { return expGeneric(dst, x, s) }
func tanh(dst, x []float32)                        { tanhGeneric(dst, x) }
func sigmoid(dst, x []float32)                     { sigmoidGeneric(dst, x) }
func sqDevSum(x []float32, mean float32) float32   { return sqDevSumGeneric(x, mean) }
func lnForward(out, x, gamma, beta []float32, mean, rstd float32) {
	lnForwardGeneric(out, x, gamma, beta, mean, rstd)
}
func lnBackward1(dy, x, gamma, dgamma, dbeta []float32, mean, rstd float32) (float32, float32) {
	return lnBackward1Generic(dy, x, gamma, dgamma, dbeta, mean, rstd)
}
func lnBackward2(dx, dy, x, gamma []float32, mean, rstd, a, b float32) {
	lnBackward2Generic(dx, dy, x, gamma, mean, rstd, a, b)
}
