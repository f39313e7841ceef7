package runtime

// Suggest returns ` (did you mean "x"?)` for the candidate closest to
// word within a small edit distance, or "": the hint that configuration
// errors give, for commands that check a name against the configured ones.
func Suggest(word string, candidates []string) string { return suggest(word, candidates) }
