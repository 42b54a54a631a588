package schemes

import (
	"math"
	"math/big"
	"math/bits"
	"strconv"
)

// Fixed is a non-money figure shown to four decimal places (achievement
// percentages and points): the exact value times 10,000, rounded half up.
type Fixed int64

// FixedScale is the number of Fixed units in 1.
const FixedScale = 10000

func (f Fixed) String() string {
	sign := ""
	u := int64(f)
	if u < 0 {
		sign, u = "-", -u
	}
	frac := strconv.FormatInt(u%FixedScale, 10)
	for len(frac) < 4 {
		frac = "0" + frac
	}
	return sign + strconv.FormatInt(u/FixedScale, 10) + "." + frac
}

// FormatPence formats whole pence as pounds with two decimals ("1234.05").
func FormatPence(p int64) string {
	sign := ""
	if p < 0 {
		sign = "-"
		p = -p
	}
	pp := strconv.FormatInt(p%100, 10)
	if len(pp) == 1 {
		pp = "0" + pp
	}
	return sign + strconv.FormatInt(p/100, 10) + "." + pp
}

// product multiplies xs, reporting false on overflow of uint64.
func product(xs []uint64) (uint64, bool) {
	r := uint64(1)
	for _, x := range xs {
		hi, lo := bits.Mul64(r, x)
		if hi != 0 {
			return 0, false
		}
		r = lo
	}
	return r, true
}

func bigProduct(xs []uint64) *big.Int {
	r := big.NewInt(1)
	var t big.Int
	for _, x := range xs {
		r.Mul(r, t.SetUint64(x))
	}
	return r
}

// mulDiv returns prod(nums) / prod(dens) rounded to the nearest whole
// number, halves up, computed exactly. Every operand is non-negative and
// dens are non-zero. It reports false when the result does not fit int64.
func mulDiv(nums, dens []uint64) (int64, bool) {
	n, okN := product(nums)
	d, okD := product(dens)
	if okN && okD {
		q, r := n/d, n%d
		if r >= d-r { // 2r >= d without overflow
			q++
		}
		if q > math.MaxInt64 {
			return 0, false
		}
		return int64(q), true
	}
	N, D := bigProduct(nums), bigProduct(dens)
	var q, r big.Int
	q.QuoRem(N, D, &r)
	r.Lsh(&r, 1)
	if r.Cmp(D) >= 0 {
		q.Add(&q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 0, false
	}
	return q.Int64(), true
}

// cmpProducts compares prod(a) with prod(b) exactly.
func cmpProducts(a, b []uint64) int {
	x, okA := product(a)
	y, okB := product(b)
	if okA && okB {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return bigProduct(a).Cmp(bigProduct(b))
}

// scaleOf is 10^d.Scale as a factor.
func scaleOf(d Decimal) uint64 { return uint64(pow10[d.Scale]) }

// rescale returns d's units at a larger scale s.
func rescale(d Decimal, s int) uint64 { return uint64(d.Units) * uint64(pow10[s-d.Scale]) }
