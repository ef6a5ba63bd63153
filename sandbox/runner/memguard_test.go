package runner

import "testing"

func TestPressure(t *testing.T) {
	const mib = 1 << 20
	const limit = 256 * mib // headroom 16 MiB, 40 refaults a sample, 10 samples
	type sample struct{ pinned, refaults int64 }
	// steady returns n samples at pinned bytes, refaults rising by step.
	steady := func(n int, pinned, step int64) []sample {
		var s []sample
		for i := range n {
			s = append(s, sample{pinned, int64(i) * step})
		}
		return s
	}
	spike := append(steady(6, 254*mib, 5000), sample{100 * mib, 30000})
	spike = append(spike, steady(6, 254*mib, 5000)...)
	tests := []struct {
		name    string
		samples []sample
		tripAt  int // index of the sample that trips the guard, -1 for never
	}{
		{"thrash, as measured", steady(30, 254*mib, 3300), 10},
		{"holds much memory, nothing read back", steady(30, 254*mib, 0), -1},
		{"a few cache misses near the limit", steady(30, 254*mib, 39), -1},
		{"streams files with room to spare", steady(30, 200*mib, 100000), -1},
		{"a brief thrash", spike, -1},
		{"at the headroom's edge", steady(30, limit-16*mib, 40), 10},
		{"just outside the headroom", steady(30, limit-16*mib-1, 40), -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPressure(limit)
			got := -1
			for i, s := range tc.samples {
				if p.observe(s.pinned, s.refaults) {
					got = i
					break
				}
			}
			if got != tc.tripAt {
				t.Fatalf("tripped at sample %d, want %d", got, tc.tripAt)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	stat := parseStat("cache 100\nrss 20\ntotal_rss 300\ntotal_shmem 4\n")
	for key, want := range map[string]int64{"rss": 20, "total_rss": 300, "total_shmem": 4} {
		if got, ok := stat[key]; !ok || got != want {
			t.Errorf("parseStat: %q = %d, %v; want %d", key, got, ok, want)
		}
	}
	if _, ok := stat["shmem"]; ok {
		t.Error("found a key that is only a suffix of another")
	}
}
