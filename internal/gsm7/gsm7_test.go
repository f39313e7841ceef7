package gsm7

import "testing"

func TestSeptets(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"FAIL web", 8},
		{"{x}", 5},
		{"€", 2},
		{"Prüfung", 7},
		{"45µs", -1},
		{"✓", -1},
	}
	for _, tc := range tests {
		if got := Septets(tc.in); got != tc.want {
			t.Errorf("Septets(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestTransliterate(t *testing.T) {
	tests := []struct{ in, want string }{
		{"FAIL in 45µs", "FAIL in 45us"},
		{"Prüfung “fehlgeschlagen” – Zeitüberschreitung…", "Prüfung \"fehlgeschlagen\" - Zeitüberschreitung..."},
		{"Crème brûlée, Łódź, Čapek", "Crème brulée, Lodz, Capek"},
		{"服务器 ✗", "??? x"},
		{"tab\there", "tab here"},
	}
	for _, tc := range tests {
		got := Transliterate(tc.in)
		if got != tc.want {
			t.Errorf("Transliterate(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if Septets(got) < 0 {
			t.Errorf("Transliterate(%q) = %q is not GSM-7", tc.in, got)
		}
	}
}
