package fdhold

// Mark records the promise for a, which must be an *aio.Aio with no
// operation in flight. Package aio sets it in its init; package adapt
// calls it once for each Aio it makes for a File.
var Mark func(a any)
