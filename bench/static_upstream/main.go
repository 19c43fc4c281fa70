// The benchmark's upstream: an OpenAI-compatible /v1/chat/completions that costs next to nothing,
// so the CPU left on the machine goes to what is measured (the reference figures used a
// static nginx answer; a stream needs per-token pacing, which nginx cannot do).
//
// Two models answer differently: gpt-4o-mini ("fast") replies at once; gpt-4o ("paced") waits
// -inter-token before each token, so gaps between tokens can be compared end to end. Both reply
// with -words words, streamed one word per chunk, in the chunk shapes tests/upstreams/openai.py
// produces (role chunk, content chunks, finish chunk, usage chunk when asked, [DONE]). With -stamp,
// each paced word is " t<unix nanoseconds>" of the moment it was written, so a load client on the
// same machine measures how long the gateway held each token (bench/stream_capacity). A model name
// ending in "-words-N" (gpt-4o-words-200) replies with N words instead of -words, paced as the model
// before the suffix is, so one upstream serves streams of two lengths (bench/token_instructions.py
// counts the instructions per token as the difference between them).
//
// GET /stats answers {"connections": C, "requests": R}: the TCP connections accepted since the start
// and the API requests served (/v1/...; /stats itself is not one). bench/design_table.py reads it
// before and after a load window to measure how well the gateway's pool reuses connections. Each
// /stats reply closes its connection, so each read adds exactly one connection of its own.
//
//	static-upstream -port 18000 [-words 16] [-inter-token 0.002] [-key sk-bench] [-stamp]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

const pacedModel = "gpt-4o"

type request struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []struct {
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

const wordsSuffix = "-words-"

// replyWords splits a model name into the model that decides the pacing and the reply's length:
// "gpt-4o-words-200" is gpt-4o with 200 words; a name without the suffix gets the -words default.
func replyWords(model string, standard int) (string, int) {
	cut := strings.LastIndex(model, wordsSuffix)
	if cut < 0 {
		return model, standard
	}
	n, err := strconv.Atoi(model[cut+len(wordsSuffix):])
	if err != nil || n < 1 || n > 100000 {
		return model, standard
	}
	return model[:cut], n
}

func wordList(n int) []string {
	words := make([]string, n)
	for i := range words {
		words[i] = fmt.Sprintf(" word%d", i)
	}
	if n > 0 {
		words[0] = strings.TrimPrefix(words[0], " ")
	}
	return words
}

type upstream struct {
	words      []string // one chunk each: "word0", " word1", ...
	text       string
	interToken time.Duration
	stamp      bool
	auth       string
	served     atomic.Int64
}

func (u *upstream) fail(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"message": message, "type": "invalid_request_error", "param": nil, "code": nil,
	}})
	w.Write(body)
}

// promptWords counts the words of string contents (the simulator's prompt_tokens).
func promptWords(req *request) int {
	n := 0
	for _, m := range req.Messages {
		var text string
		if json.Unmarshal(m.Content, &text) == nil {
			n += len(strings.Fields(text))
		}
	}
	return n
}

func (u *upstream) chat(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		u.fail(w, http.StatusMethodNotAllowed, "Invalid method for URL ("+r.Method+" "+r.URL.Path+")")
		return
	}
	if r.Header.Get("Authorization") != u.auth {
		u.fail(w, http.StatusUnauthorized, "Incorrect API key provided.")
		return
	}
	var req request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model == "" {
		u.fail(w, http.StatusBadRequest, "We could not parse the JSON body of your request.")
		return
	}
	n := u.served.Add(1)
	id := fmt.Sprintf("chatcmpl-bench%012d", n)
	created := time.Now().Unix()
	prompt := promptWords(&req)
	base, count := replyWords(req.Model, len(u.words))
	words, text := u.words, u.text
	if count != len(u.words) {
		words = wordList(count)
		text = strings.Join(words, "")
	}
	use := usage{prompt, len(words), prompt + len(words)}
	w.Header().Set("x-request-id", id)
	if !req.Stream {
		body, _ := json.Marshal(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": req.Model,
			"choices": []any{map[string]any{
				"index":         0,
				"message":       map[string]any{"role": "assistant", "content": text, "refusal": nil},
				"logprobs":      nil,
				"finish_reason": "stop",
			}},
			"usage":              use,
			"system_fingerprint": "fp_bench",
		})
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	send := func(payload map[string]any) {
		body, _ := json.Marshal(payload)
		fmt.Fprintf(w, "data: %s\n\n", body)
		if flusher != nil {
			flusher.Flush()
		}
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		payload := map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"system_fingerprint": "fp_bench",
			"choices":            []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}},
		}
		if includeUsage {
			payload["usage"] = nil
		}
		return payload
	}
	send(chunk(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil))
	paced := base == pacedModel && u.interToken > 0
	// Each token is due interToken after the previous one was due (not after it was written), so
	// the pacing does not drift with the time writing takes.
	due := time.Now()
	for _, word := range words {
		if paced {
			due = due.Add(u.interToken)
			time.Sleep(time.Until(due))
		}
		if paced && u.stamp {
			word = fmt.Sprintf(" t%d", time.Now().UnixNano())
		}
		send(chunk(map[string]any{"content": word}, nil))
	}
	send(chunk(map[string]any{}, "stop"))
	if includeUsage {
		send(map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"system_fingerprint": "fp_bench", "choices": []any{}, "usage": use,
		})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func (u *upstream) models(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != u.auth {
		u.fail(w, http.StatusUnauthorized, "Incorrect API key provided.")
		return
	}
	list := []any{}
	for _, name := range []string{"gpt-4o-mini", pacedModel} {
		list = append(list, map[string]any{"id": name, "object": "model", "created": 1715367049, "owned_by": "system"})
	}
	body, _ := json.Marshal(map[string]any{"object": "list", "data": list})
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// counters are what GET /stats reports.
type counters struct {
	connections atomic.Int64
	requests    atomic.Int64
}

// connState is the server's ConnState hook: StateNew is each accepted connection, once.
func (c *counters) connState(_ net.Conn, state http.ConnState) {
	if state == http.StateNew {
		c.connections.Add(1)
	}
}

// counted counts each request of an API route before serving it.
func (c *counters) counted(serve http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		serve(w, r)
	}
}

func (c *counters) stats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	body, _ := json.Marshal(map[string]int64{
		"connections": c.connections.Load(),
		"requests":    c.requests.Load(),
	})
	// Closed after the reply, so a reader's connection is never reused and each read counts one.
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// newServer serves the upstream's routes on address, counting connections and requests.
func newServer(address string, u *upstream, c *counters) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", c.counted(u.chat))
	mux.HandleFunc("/v1/models", c.counted(u.models))
	mux.HandleFunc("/stats", c.stats)
	return &http.Server{Addr: address, Handler: mux, ConnState: c.connState}
}

func main() {
	port := flag.Int("port", 18000, "TCP port on 127.0.0.1")
	words := flag.Int("words", 16, "words in every reply")
	interToken := flag.Float64("inter-token", 0.002, "seconds before each token of the paced model")
	key := flag.String("key", "sk-bench", "the API key callers must send")
	stamp := flag.Bool("stamp", false, "paced words carry the time they were written")
	flag.Parse()

	u := &upstream{
		interToken: time.Duration(*interToken * float64(time.Second)),
		stamp:      *stamp,
		auth:       "Bearer " + *key,
	}
	u.words = wordList(*words)
	u.text = strings.Join(u.words, "")
	address := fmt.Sprintf("127.0.0.1:%d", *port)
	server := newServer(address, u, &counters{})
	// Listening before saying so: callers start sending as soon as they read the line.
	listener, err := net.Listen("tcp", address)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("static upstream listening on http://%s/v1\n", address)
	log.Fatal(server.Serve(listener))
}
