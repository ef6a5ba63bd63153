package runner

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// A memory guard ends a block that has filled the sandbox's memory with
// pages it cannot give back (anonymous and tmpfs pages: there is no swap)
// and thrashes. The kernel's OOM killer acts only when reclaim fails
// outright; until then it evicts the program's own code pages and reads
// them back, again and again. Measured here (cgroup v1, kernel 6.18): a
// python loop growing a list 16 KiB at a time sat at 254 of 256 MiB with
// ~130,000 file refaults a second for 7.5 s to over 25 s before the OOM
// kill, so the block would end as a timeout instead of what it is.
//
// Under gVisor there is no memory.stat and no refault count, and the host's
// OOM killer would take gVisor's whole kernel, runner and all. There the
// container is given more memory than a block may use, and the guard ends
// a block once the sandbox's anonymous and shared-memory pages
// (/proc/meminfo's AnonPages and Shmem, what memory.stat's pinned memory
// counts under runc) reach the block's limit: not the page cache of files
// read, which gVisor's memory.usage_in_bytes would add (numpy's libraries
// alone are about 100 MB of it).
type memoryGuard struct {
	version  string   // "cgroup v2", "cgroup v1" or "gvisor"
	limit    int64    // the block's memory limit in bytes
	statPath string   // memory.stat
	pinned   []string // memory.stat keys of memory that cannot be reclaimed
	refaults []string // memory.stat keys counting refaulted file pages, first found wins
}

// guardPoll is how often the guard samples the cgroup while a block runs.
const guardPoll = 25 * time.Millisecond

// gvisorMeminfo is where gVisor counts the sandbox's memory by kind.
const gvisorMeminfo = "/proc/meminfo"

// findGVisorGuard returns the guard for a block limit of limit bytes, or
// nil when /proc/meminfo cannot be read.
func findGVisorGuard(limit int64) *memoryGuard {
	g := &memoryGuard{version: "gvisor", limit: limit, statPath: gvisorMeminfo}
	if _, ok := g.usage(); !ok || limit <= 0 {
		return nil
	}
	return g
}

// usage reads the anonymous and shared-memory bytes gVisor counts.
func (g *memoryGuard) usage() (int64, bool) {
	data, err := os.ReadFile(g.statPath)
	if err != nil {
		return 0, false
	}
	var total int64
	found := 0
	for line := range strings.Lines(string(data)) {
		key, rest, ok := strings.Cut(line, ":")
		if !ok || key != "AnonPages" && key != "Shmem" {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, false
		}
		total += kb << 10
		found++
	}
	return total, found > 0
}

// newCheck returns the test for one block: it is called once per poll and
// reports whether the block has exhausted its memory.
func (g *memoryGuard) newCheck() func() bool {
	if g.version == "gvisor" {
		return func() bool {
			used, ok := g.usage()
			return ok && used >= g.limit
		}
	}
	press := newPressure(g.limit)
	return func() bool {
		pinned, refaults, ok := g.sample()
		return ok && press.observe(time.Now(), pinned, refaults)
	}
}

// findMemoryGuard returns the guard for this container's memory cgroup (v2,
// then v1), or nil when the cgroup files cannot be read or set no limit: the
// kernel's OOM killer then acts alone.
func findMemoryGuard() *memoryGuard {
	candidates := []struct {
		limit string
		g     memoryGuard
	}{
		{"/sys/fs/cgroup/memory.max", memoryGuard{version: "cgroup v2",
			statPath: "/sys/fs/cgroup/memory.stat", pinned: []string{"anon", "shmem"},
			refaults: []string{"workingset_refault_file", "workingset_refault"}}},
		{"/sys/fs/cgroup/memory/memory.limit_in_bytes", memoryGuard{version: "cgroup v1",
			statPath: "/sys/fs/cgroup/memory/memory.stat", pinned: []string{"total_rss", "total_shmem"},
			refaults: []string{"total_workingset_refault_file", "total_workingset_refault"}}},
	}
	for _, c := range candidates {
		data, err := os.ReadFile(c.limit)
		if err != nil {
			continue
		}
		limit, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || limit <= 0 || limit >= 1<<62 { // "max", or v1's unlimited
			return nil
		}
		g := c.g
		g.limit = limit
		if _, _, ok := g.sample(); !ok {
			return nil
		}
		return &g
	}
	return nil
}

// sample reads the pinned bytes and the count of refaulted file pages.
func (g *memoryGuard) sample() (pinned, refaults int64, ok bool) {
	data, err := os.ReadFile(g.statPath)
	if err != nil {
		return 0, 0, false
	}
	stat := parseStat(string(data))
	found := false
	for _, key := range g.pinned {
		if v, ok := stat[key]; ok {
			pinned += v
			found = true
		}
	}
	for _, key := range g.refaults {
		if refaults, ok = stat[key]; ok {
			break
		}
	}
	return pinned, refaults, ok && found
}

// parseStat reads the "key value" lines of a cgroup file in one pass;
// lines that are not a key and a number are left out.
func parseStat(text string) map[string]int64 {
	out := make(map[string]int64, 64)
	for line := range strings.Lines(text) {
		key, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[key] = n
		}
	}
	return out
}

// pressure decides from successive samples whether memory is exhausted:
// the pinned memory leaves less than headroom for everything else (code
// pages, page cache, kernel objects) and evicted file pages keep being read
// back at a sustained rate over a whole window. A block that merely holds
// a lot of memory, or streams files with room to spare, never meets both.
//
// The test is on time, not on a count of samples: a loaded machine delays
// the poll, and a delayed ticker then delivers two samples back to back,
// the second with almost nothing read back, which must not reset the
// streak (CI once saw the guard miss a thrash for 6 s that way). And the
// rate is low: on a slow or busy disk each read-back takes longer, so a
// thrash reads back fewer pages a second.
type pressure struct {
	limit, headroom int64
	minRate         float64       // refaulted pages a second that count as thrashing
	window          time.Duration // how long both must hold
	// marks are the samples since pinned memory last crossed the threshold,
	// oldest first, trimmed to the last one at or before the window's start.
	marks []mark
}

type mark struct {
	at       time.Time
	refaults int64
}

func newPressure(limit int64) *pressure {
	// A sixteenth of the limit, at least 8 MiB: the code a python block
	// needs mapped (interpreter, libc, numpy) and the kernel's own charges.
	headroom := max(limit/16, 8<<20)
	// 400 pages (1.6 MiB) a second read back is far below the thrash
	// measured above (over 100,000 a second) and far above a program's
	// ordinary cache misses, which are not refaults at all.
	return &pressure{limit: limit, headroom: headroom, minRate: 400, window: 250 * time.Millisecond}
}

// observe takes one sample, taken at now, and reports whether the guard
// trips.
func (p *pressure) observe(now time.Time, pinned, refaults int64) bool {
	if pinned < p.limit-p.headroom {
		p.marks = p.marks[:0]
		return false
	}
	p.marks = append(p.marks, mark{now, refaults})
	start := now.Add(-p.window)
	// Keep the newest mark at or before the window's start as the base.
	drop := 0
	for drop+1 < len(p.marks) && !p.marks[drop+1].at.After(start) {
		drop++
	}
	p.marks = p.marks[drop:]
	base := p.marks[0]
	if base.at.After(start) {
		return false // over the threshold for less than a window
	}
	elapsed := now.Sub(base.at).Seconds()
	return float64(refaults-base.refaults) >= p.minRate*elapsed
}
