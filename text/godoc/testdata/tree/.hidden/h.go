package hidden

// Hidden is a documented function in a hidden directory.
func Hidden() int { return 1 }
