package codeblock

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// realMessage is one assistant message recorded in AutoGen 0.2's notebooks
// (testdata/real_messages.json, copied from the peers' study with its
// sources), with what AutoGen's executor printed for it, if it ran.
type realMessage struct {
	ID        string `json:"id"`
	Content   string `json:"content"`
	Execution string `json:"recorded_autogen_execution"`
}

func realMessages(t testing.TB) []realMessage {
	t.Helper()
	data, err := os.ReadFile("testdata/real_messages.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Messages []realMessage }
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	return file.Messages
}

// TestRealMessages extracts the blocks of 62 real LLM replies (GPT-4,
// GPT-3.5, Gemini, Claude) as a reader of each message sees them.
func TestRealMessages(t *testing.T) {
	// Each block as "language[:filename] verdict", the verdict being run,
	// save or skip.
	want := map[string][]string{
		"real-01": {"python run", "python run"},
		"real-02": {"python run"},
		"real-03": {"python run"},
		"real-04": {"python run"},
		"real-05": {"python run"},
		"real-06": {"python run"},
		"real-07": {"python run"},
		"real-08": {"python run"},
		"real-09": {"python run"},
		"real-10": {"python run"},
		"real-11": {"python run"},
		"real-12": {"python run"},
		"real-13": {"python:weather_plot.py run"},
		"real-14": {"python:improved_weather_plot.py run"},
		"real-15": {"python:stock_info.py run"},
		"real-16": {"python:fetch_stock_news.py run"},
		"real-17": {"python:microsoft_stock_info.py run"},
		"real-18": {"python:stock_news_scraper.py run"},
		"real-19": {"python run"},
		"real-20": {"python run"},
		"real-21": {"python run"},
		"real-22": {"md skip"},
		"real-23": {"md skip"},
		"real-24": {"python run"},
		"real-25": {"python run"},
		"real-26": {"python:ytd_gain.py run"},
		"real-27": {"python:ytd_gain.py run"},
		"real-28": {"python:ytd_gain.py run"},
		"real-29": {"python:ytd_gain.py run"},
		"real-30": {"python run"},
		"real-31": {"python run"},
		"real-32": {"python run"},
		"real-33": {"python run"},
		"real-34": {"python run"},
		"real-35": {"python run"},
		"real-36": {"sh run", "python:stock_gains.py run"},
		"real-37": {"python run"},
		"real-38": {"python run", "python run", "python run", "python run"},
		"real-39": {"python run"},
		"real-40": {"python run"},
		"real-41": {"python run"},
		"real-42": {"python run"},
		"real-43": {"python:sort.py run"},
		"real-44": {"sh run", "python:plot_google_products.py run"},
		"real-45": {"python:fibonacci.py run"},
		"real-46": {"python:msft_stock_analysis.py run"},
		"real-47": {"sh run"},
		"real-48": {"python:msft_stock_analysis.py run"},
		"real-49": {"python run"},
		"real-50": {"python run"},
		"real-51": {"python:fetch_stock_news.py run"},
		"real-52": {"python:fetch_stock_data.py run"},
		"real-53": {"python run"},
		"real-54": {"python:stock_info.py run", "sh run"},
		"real-55": {"python run"},
		"real-56": {"python:fetch_news.py run"},
		"real-57": {"python:stock_info_updated.py run"},
		"real-58": {"python run"},
		"real-59": {"python run"},
		"real-60": {"python run"},
		"real-61": {"python run"},
		"real-62": {"python run"},
	}
	messages := realMessages(t)
	if len(messages) != len(want) {
		t.Fatalf("%d messages, %d expectations", len(messages), len(want))
	}
	for _, m := range messages {
		t.Run(m.ID, func(t *testing.T) {
			checkExtract(t, m.Content)
			var got []string
			for _, b := range Extract(m.Content) {
				got = append(got, describe(b))
			}
			if !slices.Equal(got, want[m.ID]) {
				t.Errorf("blocks %q, want %q", got, want[m.ID])
			}
			// AutoGen ran something of every message it recorded a run
			// for: so must we find a block to run.
			if m.Execution != "" && !slices.ContainsFunc(got, func(s string) bool { return strings.HasSuffix(s, " run") }) {
				t.Errorf("AutoGen ran this message (%.40q), but no block runs", m.Execution)
			}
		})
	}
}

func describe(b Block) string {
	s := b.Language
	if b.Filename != "" {
		s += ":" + b.Filename
	}
	switch {
	case b.Runnable():
		return s + " run"
	case b.SaveOnly():
		return s + " save"
	}
	return s + " skip"
}
