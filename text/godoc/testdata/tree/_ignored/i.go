package ignored

// Ignored is a documented function in a directory the go command ignores.
func Ignored() int { return 1 }
