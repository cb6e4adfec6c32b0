// Package saturate adds and multiplies non-negative counts without
// overflow: results stop at math.MaxInt, so that no document can overflow
// a measured cost back under its limit.
package saturate

import "math"

// Add returns a+b, at most math.MaxInt; negative operands count as 0.
func Add(a, b int) int {
	if a < 0 || b < 0 {
		return max(a, b, 0)
	}
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

// Mul returns a*b, at most math.MaxInt; a non-positive operand gives 0.
func Mul(a, b int) int {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > math.MaxInt/b {
		return math.MaxInt
	}
	return a * b
}
