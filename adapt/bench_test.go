package adapt

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
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

// BenchmarkFileReadAt reads a cached 4 KiB block with File.ReadAt, as a
// program that swapped its *os.File for a File would; BenchmarkOSFileReadAt
// the same with the *os.File. Run them side by side.
func BenchmarkFileReadAt(b *testing.B) {
	f := benchFile(b, os.O_RDONLY)
	af := NewFile(testEngine, int(f.Fd()), f.Name())
	benchReadAt(b, af)
}

func BenchmarkOSFileReadAt(b *testing.B) { benchReadAt(b, benchFile(b, os.O_RDONLY)) }

func benchReadAt(b *testing.B, r io.ReaderAt) {
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, err := r.ReadAt(buf, int64(i%256)*4096); n != len(buf) || err != nil {
			b.Fatalf("ReadAt: %d, %v", n, err)
		}
	}
}

// benchFile is a 1 MiB file in the page cache, opened with flag
// (os.O_RDONLY, os.O_RDWR).
func benchFile(b *testing.B, flag int) *os.File {
	name := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(name, make([]byte, 1<<20), 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(name, flag, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

// BenchmarkFileRead reads a cached file 4 KiB at a time from its position
// with File.Read (an io.Reader's way: io.Copy, bufio), going back to the
// start at its end; BenchmarkOSFileRead the same with the *os.File.
func BenchmarkFileRead(b *testing.B) {
	f := benchFile(b, os.O_RDONLY)
	benchRead(b, NewFile(testEngine, int(f.Fd()), f.Name()))
}

func BenchmarkOSFileRead(b *testing.B) { benchRead(b, benchFile(b, os.O_RDONLY)) }

func benchRead(b *testing.B, r io.ReadSeeker) {
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n, err := r.Read(buf)
		if err == io.EOF {
			if _, err := r.Seek(0, io.SeekStart); err != nil {
				b.Fatal(err)
			}
			continue
		}
		if n != len(buf) || err != nil {
			b.Fatalf("Read: %d, %v", n, err)
		}
	}
}

// BenchmarkFileWrite writes a file 4 KiB at a time at its position with
// File.Write, going back to the start after 1 MiB; BenchmarkOSFileWrite
// the same with the *os.File.
func BenchmarkFileWrite(b *testing.B) {
	f := benchFile(b, os.O_RDWR)
	benchWrite(b, NewFile(testEngine, int(f.Fd()), f.Name()))
}

func BenchmarkOSFileWrite(b *testing.B) { benchWrite(b, benchFile(b, os.O_RDWR)) }

func benchWrite(b *testing.B, w io.WriteSeeker) {
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%256 == 0 {
			if _, err := w.Seek(0, io.SeekStart); err != nil {
				b.Fatal(err)
			}
		}
		if n, err := w.Write(buf); n != len(buf) || err != nil {
			b.Fatalf("Write: %d, %v", n, err)
		}
	}
}
