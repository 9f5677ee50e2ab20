package adapt_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/aioring/aioring/adapt"
	"github.com/aioring/aioring/aio"
)

// An http.Server serving through the engine: only the listener changes.
func ExampleListen() {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	l, err := adapt.Listen(e, "tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello over %T\n", r.Context().Value(http.LocalAddrContextKey))
	})}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	resp, err := http.Get("http://" + l.Addr().String() + "/")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(body))
	// Output: hello over *net.TCPAddr
}

// A File is an io.ReaderAt and io.WriterAt; its reads and writes are
// engine operations.
func ExampleOpen() {
	e, err := aio.NewEngine(aio.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	dir, _ := os.MkdirTemp("", "adapt-example")
	defer os.RemoveAll(dir)

	f, err := adapt.Open(e, filepath.Join(dir, "greeting"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Println(err)
		return
	}
	f.WriteAt([]byte("hello, engine\n"), 0)
	f.Sync()
	section := io.NewSectionReader(f, 7, 7)
	b, _ := io.ReadAll(section)
	fmt.Printf("%q\n", b)
	f.Close()
	// Output: "engine\n"
}
