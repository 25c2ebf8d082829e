//go:build !linux

package lab

import "errors"

func doInNS(string, func() error) error {
	return errors.New("network namespaces need Linux")
}
