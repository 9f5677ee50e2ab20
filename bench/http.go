package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aioring/aioring/adapt"
	"github.com/aioring/aioring/aio"
)

// httpBodySize is the size of every response body: small enough that the
// figures measure the server's request handling and the sockets under it,
// not copying.
const httpBodySize = 64

// httpBody is the fixed response. The client checks its length and its
// bytes: both servers send this same slice through the same http.Server,
// but over different listeners.
var httpBody = []byte("aioring bench: a fixed 64-byte response body for the http case.\n")

func init() {
	if len(httpBody) != httpBodySize {
		panic("bench: httpBody is " + strconv.Itoa(len(httpBody)) + " bytes, want " + strconv.Itoa(httpBodySize))
	}
}

// httpHandler answers every request with httpBody. Setting the headers
// itself spares net/http the content sniffing and the length computation,
// which would be the same work for both servers anyway.
func httpHandler(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain"}
	h["Content-Length"] = []string{strconv.Itoa(httpBodySize)}
	w.Write(httpBody)
}

// startHTTP starts one http.Server (s.Impl: aioring serves through an
// adapt.Listener on an engine, net through net.Listen). Only the listener
// differs: the server, the handler and the client are the same code.
func startHTTP(s *spec) (*server, error) {
	var (
		l   net.Listener
		e   *aio.Engine
		err error
	)
	if s.Impl == implAio {
		if e, err = aio.NewEngine(engineConfig()); err != nil {
			return nil, err
		}
		l, err = adapt.Listen(e, "tcp", "127.0.0.1:0")
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		if e != nil {
			e.Close()
		}
		return nil, err
	}
	opened := new(atomic.Int64)
	srv := &http.Server{
		Handler:           http.HandlerFunc(httpHandler),
		ReadHeaderTimeout: 30 * time.Second,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				opened.Add(1)
			}
		},
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := srv.Shutdown(ctx)
		if err != nil {
			err = fmt.Errorf("shutting the server down: %w", err)
		}
		// Serve ends with ErrServerClosed after Shutdown; anything else
		// means the listener failed during the case, which the figures
		// must not hide.
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = fmt.Errorf("serve: %w", serr)
		}
		if e != nil {
			e.Close()
		}
		return err
	}
	return &server{addr: l.Addr().String(), engine: e, opened: opened, stop: stop}, nil
}

// loadHTTP is the load generator shared by both servers, run in its own
// process: s.Conns goroutines issuing GET requests in a loop through one
// http.Client whose Transport keeps up to s.Conns keep-alive connections,
// so that each goroutine in effect holds one connection (with s.NewConns,
// none: every request connects anew). A request's latency runs from the call to
// Get until its body has been read.
func loadHTTP(s *spec, url string) (*result, error) {
	tr := &http.Transport{
		MaxIdleConns:        s.Conns,
		MaxIdleConnsPerHost: s.Conns,
		MaxConnsPerHost:     s.Conns,
		DisableCompression:  true,
		DisableKeepAlives:   s.NewConns,
	}
	defer tr.CloseIdleConnections()
	// A server that stops answering must fail the case, not hang it.
	client := &http.Client{Transport: tr, Timeout: maxWindow + 20*time.Second}
	// Operations are requests; MB/s would count only the body, a small part
	// of what crosses the socket, so it is left out.
	return closedLoop(s, s.Conns, func(int) func() (time.Duration, error) {
		buf := make([]byte, 2*httpBodySize)
		return func() (time.Duration, error) {
			t0 := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				return 0, err
			}
			n, err := io.ReadFull(resp.Body, buf)
			resp.Body.Close()
			d := time.Since(t0)
			if err != io.ErrUnexpectedEOF && err != io.EOF {
				if err == nil {
					err = errors.New("the response body is longer than it should be")
				}
				return 0, err
			}
			if resp.StatusCode != http.StatusOK || n != httpBodySize {
				return 0, fmt.Errorf("response: status %d, %d body bytes; want 200 and %d", resp.StatusCode, n, httpBodySize)
			}
			// The bytes too: the two servers share the handler, not the
			// transport, and the engine's listener carries the body.
			if !bytes.Equal(buf[:n], httpBody) {
				return 0, errors.New("the response body differs from the one sent")
			}
			return d, nil
		}
	}, 0)
}
