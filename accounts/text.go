package accounts

import "unicode/utf8"

// cutText shortens s to at most n bytes without splitting a UTF-8
// character: a cut in the middle of one would make text the stores refuse.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
