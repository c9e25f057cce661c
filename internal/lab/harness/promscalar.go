package harness

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
)

// PromScalar asks the Prometheus at base for query, an instant query whose
// answer is one series, and returns its value; NaN when the query fails or
// answers nothing. The lab's recorders read what Prometheus saw with it.
func PromScalar(ctx context.Context, c *http.Client, base, query string) float64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(query), nil)
	if err != nil {
		return math.NaN()
	}
	resp, err := c.Do(req)
	if err != nil {
		return math.NaN()
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Data.Result) == 0 {
		return math.NaN()
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}
