package adapt

import (
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// benchConns is how many client connections run requests at once.
const benchConns = 64

var helloBody = []byte("hello, world\n")

func helloHandler(w http.ResponseWriter, r *http.Request) { w.Write(helloBody) }

// BenchmarkHTTPAdapt serves through an engine Listener; BenchmarkHTTPNet
// through net.Listen. Same server, same client (net/http over net), same
// 64 keep-alive connections: the ratio of their req/s is the adapter's cost
// or gain. Run them side by side in one invocation.
func BenchmarkHTTPAdapt(b *testing.B) {
	l, err := Listen(testEngine, "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	benchHTTP(b, l)
}

func BenchmarkHTTPNet(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	benchHTTP(b, l)
}

func benchHTTP(b *testing.B, l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(helloHandler)}
	go srv.Serve(l)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	tr := &http.Transport{MaxIdleConnsPerHost: benchConns, MaxConnsPerHost: benchConns}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := "http://" + l.Addr().String() + "/"

	// benchConns goroutines in all, each holding one keep-alive connection.
	b.SetParallelism((benchConns + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || n != int64(len(helloBody)) {
				b.Errorf("response body: %d bytes, %v", n, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
