// The stream-capacity load client (issue 25): holds K concurrent paced streams through a gateway
// and steps K up until the gateway adds more than -max-added-p99 to the gap between tokens, or a
// stream fails. Written in Go on the generated Go client because a Python client would be the
// bottleneck long before the gateway is.
//
// The upstream is bench/static_upstream with -stamp: every paced token carries the moment it was
// written, so for every token the client knows how long the gateway held it (relay delay) and how
// much the gateway stretched the gap to the token before it (added gap = arrival gap − send gap).
//
//	stream-capacity -target 127.0.0.1:50051 -protocol grpc -model paced \
//	    -steps 50,100,200,400 -step-seconds 12 -cpu-pids 1234,1235 > result.json
//
// -protocol sse speaks OpenAI's Chat Completions SSE to an HTTP door, a forwarder or LiteLLM.
// One JSON object per step on stdout; progress on stderr.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/llmgateway/llmgateway/clients/go/llmgateway/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// A stream's observations, merged into the step's when it ends.
type observations struct {
	addedGapsUs []float64 // per token after the first: arrival gap − send gap
	relayUs     []float64 // per token: arrival − send time
	ttftUs      []float64 // per stream: first token's arrival − request start
	tokens      int
}

func (o *observations) merge(other *observations) {
	o.addedGapsUs = append(o.addedGapsUs, other.addedGapsUs...)
	o.relayUs = append(o.relayUs, other.relayUs...)
	o.ttftUs = append(o.ttftUs, other.ttftUs...)
	o.tokens += other.tokens
}

// tokenClock turns stamped tokens into observations.
type tokenClock struct {
	obs       observations
	started   time.Time
	lastSent  int64
	lastSeen  int64
	firstSeen bool
}

func (c *tokenClock) token(text string, arrived time.Time) {
	stamp := strings.TrimSpace(text)
	if !strings.HasPrefix(stamp, "t") {
		return // the role chunk, or an unstamped token
	}
	sent, err := strconv.ParseInt(stamp[1:], 10, 64)
	if err != nil {
		return
	}
	seen := arrived.UnixNano()
	if !c.firstSeen {
		c.firstSeen = true
		c.obs.ttftUs = append(c.obs.ttftUs, float64(arrived.Sub(c.started).Microseconds()))
	} else {
		c.obs.addedGapsUs = append(c.obs.addedGapsUs, float64((seen-c.lastSeen)-(sent-c.lastSent))/1e3)
	}
	c.obs.relayUs = append(c.obs.relayUs, float64(seen-sent)/1e3)
	c.obs.tokens++
	c.lastSent, c.lastSeen = sent, seen
}

type streamer interface {
	// stream runs one paced stream to its end, feeding every content token to clock.
	stream(ctx context.Context, clock *tokenClock) error
}

type grpcStreamer struct {
	clients []v1.ChatServiceClient
	next    atomic.Uint64
	model   string
	key     string
}

func (g *grpcStreamer) stream(ctx context.Context, clock *tokenClock) error {
	client := g.clients[g.next.Add(1)%uint64(len(g.clients))]
	if g.key != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+g.key)
	}
	request := &v1.ChatStreamRequest{
		Model: g.model,
		Messages: []*v1.Message{{
			Role:  v1.Role_ROLE_USER,
			Parts: []*v1.Part{{Kind: &v1.Part_Text{Text: "stream please"}}},
		}},
	}
	clock.started = time.Now()
	stream, err := client.ChatStream(ctx, request)
	if err != nil {
		return err
	}
	for {
		message, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if text := message.GetDelta().GetText(); text != "" {
			clock.token(text, time.Now())
		}
	}
}

type sseStreamer struct {
	client *http.Client
	url    string
	model  string
	key    string
}

type sseChunk struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
	} `json:"choices"`
	Error json.RawMessage `json:"error"`
}

func (s *sseStreamer) stream(ctx context.Context, clock *tokenClock) error {
	body, _ := json.Marshal(map[string]any{
		"model":    s.model,
		"stream":   true,
		"messages": []any{map[string]any{"role": "user", "content": "stream please"}},
	})
	request, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	request.Header.Set("Content-Type", "application/json")
	if s.key != "" {
		request.Header.Set("Authorization", "Bearer "+s.key)
	}
	clock.started = time.Now()
	response, err := s.client.Do(request)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		detail, _ := io.ReadAll(io.LimitReader(response.Body, 512))
		return fmt.Errorf("HTTP %d: %s", response.StatusCode, detail)
	}
	lines := bufio.NewReaderSize(response.Body, 64*1024)
	for {
		line, err := lines.ReadBytes('\n')
		if len(line) > 0 {
			arrived := time.Now()
			data, found := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("data: "))
			if found {
				if bytes.Equal(data, []byte("[DONE]")) {
					return nil
				}
				var chunk sseChunk
				if json.Unmarshal(data, &chunk) != nil {
					return fmt.Errorf("not JSON: %.80s", data)
				}
				if len(chunk.Error) > 0 {
					return fmt.Errorf("error event: %s", chunk.Error)
				}
				for _, choice := range chunk.Choices {
					if choice.Delta.Content != "" {
						clock.token(choice.Delta.Content, arrived)
					}
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the stream ended without [DONE]")
			}
			return err
		}
	}
}

// cpuTicks is the user+system CPU time of the processes, in clock ticks (USER_HZ, 100 on Linux).
func cpuTicks(pids []int) int64 {
	var total int64
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command (which may hold spaces) start after its closing parenthesis.
		fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		total += utime + stime
	}
	return total
}

// machineTicks is the machine's CPU time (all cores, in ticks) and, of it, the time the hypervisor
// stole: a step measured while a virtual machine's host takes its cores away shows stretched gaps
// that are not the target's.
func machineTicks() (total, steal int64) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	for i, field := range fields[1:] {
		value, _ := strconv.ParseInt(field, 10, 64)
		if i < 8 {
			total += value
		}
		if i == 7 {
			steal = value
		}
	}
	return total, steal
}

// rssKiB is the resident set size of the processes.
func rssKiB(pids []int) int64 {
	var total int64
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if value, found := strings.CutPrefix(line, "VmRSS:"); found {
				kib, _ := strconv.ParseInt(strings.Fields(value)[0], 10, 64)
				total += kib
			}
		}
	}
	return total
}

func percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	index := int(p / 100 * float64(len(sorted)-1))
	return sorted[index]
}

type stepResult struct {
	K             int      `json:"k"`
	Seconds       float64  `json:"seconds"`
	StreamsDone   int      `json:"streams_done"`
	StreamsFailed int      `json:"streams_failed"`
	Errors        []string `json:"errors,omitempty"`
	Tokens        int      `json:"tokens"`
	TokensPerS    float64  `json:"tokens_per_s"`
	AddedGapP50Ms float64  `json:"added_gap_p50_ms"`
	AddedGapP99Ms float64  `json:"added_gap_p99_ms"`
	RelayP50Ms    float64  `json:"relay_p50_ms"`
	RelayP99Ms    float64  `json:"relay_p99_ms"`
	TTFTP99Ms     float64  `json:"ttft_p99_ms"`
	CPUSeconds    float64  `json:"cpu_s"`
	CPUUsPerToken float64  `json:"cpu_us_per_token"`
	RSSMiB        float64  `json:"rss_mib"`
	// The share of the machine's CPU time the hypervisor stole during the window.
	StealPct float64 `json:"steal_pct"`
	// Tokens/s against K streams' worth (K / the upstream's inter-token gap): streams waiting to
	// start (for a pooled upstream connection, for the loop) relay nothing and lower it.
	Flowing float64 `json:"flowing"`
	Held    bool    `json:"held"`
}

// The least share of K streams' tokens a step must relay to hold: a stream that waits seconds for
// its first token is not one the target holds, though none of its gaps is stretched (the stream
// start's own gap, TTFT, keeps it a little under 1).
const minFlowing = 0.95

// runStep holds k streams for the step's duration: each worker starts its first stream at a
// staggered moment (so k streams do not all start at once), then starts a new one whenever its
// stream ends. Only tokens that arrive inside the measured window count.
func runStep(s streamer, k int, warmup, measure time.Duration, pids []int, maxAdded float64, interToken time.Duration) stepResult {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu       sync.Mutex
		total    observations
		done     int
		failed   int
		errs     = map[string]int{}
		wg       sync.WaitGroup
		measured atomic.Bool
	)
	windowEnd := time.Now().Add(warmup + measure)
	for i := 0; i < k; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			time.Sleep(time.Duration(int64(warmup) * int64(i) / int64(k)))
			for time.Now().Before(windowEnd) && ctx.Err() == nil {
				clock := &tokenClock{}
				counted := measured.Load()
				err := s.stream(ctx, clock)
				mu.Lock()
				if err != nil && ctx.Err() == nil {
					failed++
					errs[err.Error()]++
				} else if err == nil && counted {
					done++
				}
				if counted {
					total.merge(&clock.obs)
				}
				mu.Unlock()
			}
		}(i)
	}
	time.Sleep(warmup)
	measured.Store(true)
	cpuBefore, started := cpuTicks(pids), time.Now()
	machineBefore, stealBefore := machineTicks()
	time.Sleep(measure)
	elapsed, cpu := time.Since(started).Seconds(), float64(cpuTicks(pids)-cpuBefore)/100
	machineAfter, stealAfter := machineTicks()
	rss := float64(rssKiB(pids)) / 1024
	// Streams started inside the window run to their end (they were counted); then stop.
	wg.Wait()
	result := stepResult{
		K: k, Seconds: elapsed, StreamsDone: done, StreamsFailed: failed, Tokens: total.tokens,
		TokensPerS:    float64(total.tokens) / elapsed,
		AddedGapP50Ms: percentile(total.addedGapsUs, 50) / 1e3,
		AddedGapP99Ms: percentile(total.addedGapsUs, 99) / 1e3,
		RelayP50Ms:    percentile(total.relayUs, 50) / 1e3,
		RelayP99Ms:    percentile(total.relayUs, 99) / 1e3,
		TTFTP99Ms:     percentile(total.ttftUs, 99) / 1e3,
		CPUSeconds:    cpu,
		RSSMiB:        rss,
	}
	if machineAfter > machineBefore {
		result.StealPct = float64(stealAfter-stealBefore) * 100 / float64(machineAfter-machineBefore)
	}
	if total.tokens > 0 && len(pids) > 0 {
		// CPU over the window, per token relayed in the window (tokens per second × window).
		result.CPUUsPerToken = cpu * 1e6 / (result.TokensPerS * elapsed)
	}
	for message, count := range errs {
		result.Errors = append(result.Errors, fmt.Sprintf("%d× %s", count, message))
	}
	result.Flowing = result.TokensPerS * interToken.Seconds() / float64(k)
	result.Held = failed == 0 && result.AddedGapP99Ms <= maxAdded && result.Flowing >= minFlowing
	return result
}

func main() {
	target := flag.String("target", "127.0.0.1:50051", "gRPC host:port, or the base URL for -protocol sse")
	protocol := flag.String("protocol", "grpc", "grpc (llmgateway.v1 ChatStream) or sse (OpenAI Chat Completions)")
	model := flag.String("model", "paced", "the model to ask for")
	key := flag.String("key", "", "API key (Bearer)")
	steps := flag.String("steps", "25,50,100,200,400,800", "concurrent streams, in order")
	warmupS := flag.Float64("warmup-seconds", 4, "ramp-up before measuring (at least one stream's length)")
	measureS := flag.Float64("step-seconds", 10, "measured window per step")
	pidList := flag.String("cpu-pids", "", "comma-separated pids whose CPU and RSS are measured")
	maxAdded := flag.Float64("max-added-p99", 5, "ms of added inter-token gap (p99) a step may show and still hold")
	connections := flag.Int("connections", 0, "gRPC connections (0: one per 100 streams of the largest step)")
	interTokenS := flag.Float64("inter-token-seconds", 0.02, "the upstream's gap between tokens (what K streams relay per second)")
	flag.Parse()

	var pids []int
	for _, field := range strings.Split(*pidList, ",") {
		if pid, err := strconv.Atoi(strings.TrimSpace(field)); err == nil {
			pids = append(pids, pid)
		}
	}
	var ks []int
	for _, field := range strings.Split(*steps, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || k <= 0 {
			fmt.Fprintf(os.Stderr, "bad step %q\n", field)
			os.Exit(2)
		}
		ks = append(ks, k)
	}

	var s streamer
	switch *protocol {
	case "grpc":
		n := *connections
		if n <= 0 {
			n = ks[len(ks)-1]/100 + 1
		}
		g := &grpcStreamer{model: *model, key: *key}
		for i := 0; i < n; i++ {
			// Separate connections (not one shared HTTP/2 connection): a real fleet of clients.
			conn, err := grpc.NewClient(*target,
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)),
				grpc.WithUserAgent(fmt.Sprintf("stream-capacity/%d", i)))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			defer conn.Close()
			g.clients = append(g.clients, v1.NewChatServiceClient(conn))
		}
		s = g
	case "sse":
		transport := &http.Transport{MaxIdleConnsPerHost: 100000, MaxConnsPerHost: 0, DisableCompression: true}
		s = &sseStreamer{
			client: &http.Client{Transport: transport},
			url:    strings.TrimRight(*target, "/") + "/chat/completions",
			model:  *model,
			key:    *key,
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown protocol %q\n", *protocol)
		os.Exit(2)
	}

	out := json.NewEncoder(os.Stdout)
	warmup := time.Duration(*warmupS * float64(time.Second))
	measure := time.Duration(*measureS * float64(time.Second))
	for _, k := range ks {
		interToken := time.Duration(*interTokenS * float64(time.Second))
		result := runStep(s, k, warmup, measure, pids, *maxAdded, interToken)
		out.Encode(result)
		fmt.Fprintf(os.Stderr, "K=%d held=%v tokens/s=%.0f (%.0f%% of K streams') added gap p50/p99 %.2f/%.2f ms, TTFT p99 %.1f ms, CPU %.1f µs/token, failed %d, steal %.0f%%\n",
			k, result.Held, result.TokensPerS, result.Flowing*100, result.AddedGapP50Ms, result.AddedGapP99Ms,
			result.TTFTP99Ms, result.CPUUsPerToken, result.StreamsFailed, result.StealPct)
		if !result.Held {
			break
		}
	}
}
