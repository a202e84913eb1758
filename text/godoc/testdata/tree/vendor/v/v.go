package v

// Vendored is a documented function under vendor.
func Vendored() int { return 1 }
