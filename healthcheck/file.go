package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"

	"github.com/hadirector/hadirector/internal/kaformat"
)

// File reads a number from a file at every check (keepalived's FILE_CHECK with a
// track_file). A missing or empty file, or one that does not start with a number, reads as
// 0, as in keepalived; a number outside the 32-bit range fails the check (keepalived
// ignores it and keeps the previous state).
//
// With Weight 0 the number is a state: 0 up, anything else down (Reverse: 0 down, anything
// else up). Otherwise the real server is up with its configured weight plus number ×
// Weight (minus, with Reverse), and down only when that product reaches −2³¹
// (keepalived's IPVS_WEIGHT_FAULT); an effective weight below 0 is 0 (quiesced).
type File struct {
	// Path (track_file's file) is the file read.
	Path string
	// Weight and Reverse are FILE_CHECK's weight and its reverse option.
	Weight  int
	Reverse bool
}

func (f *File) String() string { return "file " + f.Path }

// Check reads the file once.
func (f *File) Check(ctx context.Context) error {
	_, err := f.CheckWeight(ctx)
	return err
}

// CheckWeight reads the file once and says the weight it sets.
func (f *File) CheckWeight(context.Context) (Weight, error) {
	v, err := f.read()
	if err != nil {
		return Weight{}, &Error{Check: "file", Target: f.Path, Step: "read", Reason: ReasonOther, Detail: err.Error(), Err: err}
	}
	down := func(detail string) error {
		return &Error{Check: "file", Target: f.Path, Reason: ReasonStatus, Detail: detail}
	}
	if f.Weight == 0 {
		if (v != 0) != f.Reverse {
			return Weight{}, down(fmt.Sprintf("reads %d", v))
		}
		return Weight{}, nil
	}
	w := v * int64(f.Weight)
	if f.Reverse {
		w = -w
	}
	if w <= math.MinInt32 {
		return Weight{}, down(fmt.Sprintf("reads %d: weight %d is the fault weight", v, w))
	}
	return Weight{Kind: WeightOffset, Value: min(w, math.MaxInt32)}, nil
}

// read returns the file's number.
func (f *File) read() (int64, error) {
	var buf [127]byte // keepalived reads at most 127 bytes
	n := 0
	file, err := os.Open(f.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return 0, err
	default:
		n, err = io.ReadFull(file, buf[:])
		file.Close()
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return 0, err
		}
	}
	v, ok := kaformat.Long(string(buf[:n]))
	if !ok || v < math.MinInt32 || v > math.MaxInt32+1 {
		return 0, fmt.Errorf("%q is out of the 32-bit range", strings.TrimSpace(string(buf[:n])))
	}
	return v, nil
}
