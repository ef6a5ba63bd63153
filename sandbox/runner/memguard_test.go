package runner

import (
	"testing"
	"time"
)

func TestPressure(t *testing.T) {
	const mib = 1 << 20
	const limit = 256 * mib // headroom 16 MiB, 400 refaults a second over 250 ms
	const poll = 25 * time.Millisecond
	type sample struct {
		at               time.Duration
		pinned, refaults int64
	}
	// steady returns n samples a poll apart from from, at pinned bytes,
	// refaults rising by step a sample.
	steady := func(from time.Duration, n int, pinned, step int64) []sample {
		var s []sample
		for i := range n {
			s = append(s, sample{from + time.Duration(i)*poll, pinned, int64(i) * step})
		}
		return s
	}
	spike := append(steady(0, 6, 254*mib, 5000), sample{6 * poll, 100 * mib, 30000})
	spike = append(spike, steady(7*poll, 6, 254*mib, 5000)...)
	// A loaded machine stalls the poll for 200 ms; the ticker then delivers
	// two samples back to back, the second with nothing new read back.
	stalled := steady(0, 5, 254*mib, 3300)
	stalled = append(stalled, sample{300 * time.Millisecond, 254 * mib, 40000}, sample{300*time.Millisecond + time.Microsecond, 254 * mib, 40000})
	tests := []struct {
		name    string
		samples []sample
		tripAt  int // index of the sample that trips the guard, -1 for never
	}{
		{"thrash, as measured", steady(0, 30, 254*mib, 3300), 10},
		{"thrash on a slow disk", steady(0, 30, 254*mib, 20), 10},
		{"holds much memory, nothing read back", steady(0, 30, 254*mib, 0), -1},
		{"a few cache misses near the limit", steady(0, 30, 254*mib, 9), -1},
		{"streams files with room to spare", steady(0, 30, 200*mib, 100000), -1},
		{"a brief thrash", spike, -1},
		{"at the headroom's edge", steady(0, 30, limit-16*mib, 10), 10},
		{"just outside the headroom", steady(0, 30, limit-16*mib-1, 10), -1},
		{"a stalled poll", stalled, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPressure(limit)
			t0 := time.Now()
			got := -1
			for i, s := range tc.samples {
				if p.observe(t0.Add(s.at), s.pinned, s.refaults) {
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
