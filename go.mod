module github.com/aioring/aioring

go 1.26.0

require golang.org/x/sys v0.50.0

require go.uber.org/goleak v1.3.0

require golang.org/x/net v0.62.0
