module github.com/aioring/aioring/bench

go 1.26.0

replace github.com/aioring/aioring => ../
