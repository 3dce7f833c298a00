package testservices

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Answer is an HTTP answer, read whole.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// String returns the status and the body, for failure messages.
func (a Answer) String() string { return fmt.Sprintf("%d %s", a.Status, a.Body) }

// OK reports whether the answer is 200 {"result":"ok"}.
func (a Answer) OK() bool {
	var r struct {
		Result string `json:"result"`
	}
	return a.Status == http.StatusOK && json.Unmarshal(a.Body, &r) == nil && r.Result == "ok"
}

// Form turns key, value, key, value... into url.Values.
func Form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// Send sends a request to rawURL through c with header (may be nil) and
// reads the whole answer. form is the query of a GET and the urlencoded
// body of any other method.
func Send(ctx context.Context, c *http.Client, method, rawURL string, form url.Values, header http.Header) (Answer, error) {
	var body io.Reader
	if method == http.MethodGet {
		if len(form) > 0 {
			rawURL += "?" + form.Encode()
		}
	} else {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return Answer{}, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, err
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}
