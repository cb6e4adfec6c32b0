package render

import "encoding/json"

// Content is what a message shows of its event's data: the string of
// {"content": "..."}, a bare JSON string, or else the data as JSON text.
func Content(data []byte) string {
	var body struct {
		Content *string `json:"content"`
	}
	if json.Unmarshal(data, &body) == nil && body.Content != nil {
		return *body.Content
	}
	var s string
	if json.Unmarshal(data, &s) == nil {
		return s
	}
	return string(data)
}
