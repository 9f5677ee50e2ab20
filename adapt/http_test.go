package adapt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echoHandler answers with the method, the path and the request body, so
// the client can check each response belongs to its request.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%s %s %d\n", r.Method, r.URL.Path, len(body))
	w.Write(body)
}

// serveHTTP runs an http.Server on an engine Listener and returns its URL
// and a function that shuts it down and reports Serve's result.
func serveHTTP(t testing.TB, h http.Handler, connState func(net.Conn, http.ConnState)) (string, func()) {
	t.Helper()
	l, err := Listen(testEngine, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ConnState: connState, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	}
}

func TestHTTPServer(t *testing.T) {
	var newConns atomic.Int32
	url, shutdown := serveHTTP(t, http.HandlerFunc(echoHandler), func(c net.Conn, s http.ConnState) {
		if _, ok := c.(*Conn); !ok {
			t.Errorf("the server got a %T, want *adapt.Conn", c)
		}
		if s == http.StateNew {
			newConns.Add(1)
		}
	})
	defer shutdown()

	const clients, perClient = 8, 25
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range perClient {
				body := bytes.Repeat([]byte{byte('a' + c)}, 1+i*1000) // up to ~24 KB
				path := fmt.Sprintf("/c%d/r%d", c, i)
				resp, err := client.Post(url+path, "application/octet-stream", bytes.NewReader(body))
				if err != nil {
					t.Errorf("POST %s: %v", path, err)
					return
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := fmt.Sprintf("POST %s %d\n%s", path, len(body), body)
				if err != nil || resp.StatusCode != 200 || string(got) != want {
					t.Errorf("POST %s: status %d, %d bytes, %v; want 200 and the echo", path, resp.StatusCode, len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Keep-alive: far fewer connections than requests (each client reuses
	// its connection; a few extra may open while others are busy).
	if n := newConns.Load(); n < 1 || n > 2*clients {
		t.Errorf("%d connections for %d requests; want keep-alive reuse (at most %d)", n, clients*perClient, 2*clients)
	}

	// A GET through a client that also dials with the engine.
	engineClient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return Dial(ctx, testEngine, network, addr)
		},
	}}
	resp, err := engineClient.Get(url + "/engine")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "GET /engine 0\n" {
		t.Errorf("GET over an engine client = %q", got)
	}
	engineClient.CloseIdleConnections()
}
