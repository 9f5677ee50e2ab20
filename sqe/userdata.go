package sqe

// UserData is the 64-bit cookie an SQE carries and its CQE returns. aioring
// never stores a Go pointer there (converting it back would hide the object
// from the garbage collector and fails under -d=checkptr); it packs a kind,
// a slot index and the slot's generation instead:
//
//	bits 63..60  kind  (what the CQE is for: an op, a cancel, an internal wakeup)
//	bits 59..32  gen   (28 bits, bumped per op so late CQEs of an old op are recognised)
//	bits 31..0   index (the slot in the owner's table)
//
// Kind 0xF is never used, so no value equals liburing's reserved
// LIBURING_UDATA_TIMEOUT (all ones).
type UserData uint64

// Kind says what a CQE belongs to.
type Kind uint8

const (
	genBits   = 28
	genMask   = 1<<genBits - 1
	kindShift = 60
)

// MaxKind is the largest Kind that Pack accepts.
const MaxKind Kind = 0xE

// Pack builds user data from its parts. gen is truncated to 28 bits; kind
// must not exceed MaxKind.
func Pack(kind Kind, index uint32, gen uint32) UserData {
	return UserData(uint64(kind&0xF)<<kindShift | uint64(gen&genMask)<<32 | uint64(index))
}

// Kind returns the kind bits.
func (u UserData) Kind() Kind { return Kind(u >> kindShift) }

// Index returns the slot index.
func (u UserData) Index() uint32 { return uint32(u) }

// Gen returns the 28-bit generation.
func (u UserData) Gen() uint32 { return uint32(u>>32) & genMask }

// GenMask is the mask of valid generation bits; compare generations after
// masking with it.
const GenMask = genMask
