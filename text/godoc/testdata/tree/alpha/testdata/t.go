package t

// InTestdata is a documented function under testdata.
func InTestdata() int { return 1 }
