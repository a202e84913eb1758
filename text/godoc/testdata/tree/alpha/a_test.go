package alpha

// TestHelper is a documented function of a test file.
func TestHelper() int { return 42 }
