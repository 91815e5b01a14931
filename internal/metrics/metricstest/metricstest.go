// Package metricstest reads a Prometheus scrape for tests: every sample by its series name,
// so a test asserts `kycgw_x_total{provider="bond"}` equals a number, and the raw text, so it
// can check what must never appear in it.
package metricstest

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Samples maps each series, written `name{label="value",...}` with labels sorted by name, to
// its value. Histograms give name_count, name_sum and name_bucket{...,le="..."}.
type Samples map[string]float64

// Scrape GETs url with c and parses the text exposition format.
func Scrape(t testing.TB, c *http.Client, url string) (Samples, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %d %s", url, resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("scrape %s: parsing: %v", url, err)
	}
	var list []*dto.MetricFamily
	for _, mf := range mfs {
		list = append(list, mf)
	}
	return FromFamilies(list), string(body)
}

// FromFamilies flattens gathered metric families into Samples.
func FromFamilies(mfs []*dto.MetricFamily) Samples {
	out := Samples{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := func(name string, extra ...string) string {
				ls := append(append([]string(nil), labels...), extra...)
				sort.Strings(ls)
				if len(ls) == 0 {
					return name
				}
				return name + "{" + strings.Join(ls, ",") + "}"
			}
			name := mf.GetName()
			switch {
			case m.GetCounter() != nil:
				out[key(name)] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key(name)] = m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				out[key(name)] = m.GetUntyped().GetValue()
			case m.GetHistogram() != nil:
				h := m.GetHistogram()
				out[key(name+"_count")] = float64(h.GetSampleCount())
				out[key(name+"_sum")] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					le := strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)
					out[key(name+"_bucket", fmt.Sprintf("le=%q", le))] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

// Check reports every series of want that is missing from s or has another value.
func (s Samples) Check(t testing.TB, want Samples) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := s[k]
		switch {
		case !ok:
			t.Errorf("%s: missing from the scrape", k)
		case v != want[k]:
			t.Errorf("%s = %v, want %v", k, v, want[k])
		}
	}
}
