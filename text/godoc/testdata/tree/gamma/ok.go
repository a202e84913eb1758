package gamma

// Fine is a documented function beside a file that does not parse.
func Fine() int { return 1 }
