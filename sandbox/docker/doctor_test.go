package docker

import "testing"

func TestMemoryText(t *testing.T) {
	for in, want := range map[string]string{"536870912": "512MiB", "9223372036854771712": "none", "max": "max", "1610612736": "1.5GiB"} {
		if got := memoryText(in); got != want {
			t.Errorf("memoryText(%q) = %q, want %q", in, got, want)
		}
	}
}
