package llmgateway

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is a failed call with the google.rpc details the gateway attaches decoded.
type Error struct {
	Code    codes.Code
	Message string
	// Reason and Domain come from google.rpc.ErrorInfo (e.g. "MODEL_NOT_FOUND", "llmgateway"); they
	// are empty when the failure happened before the gateway (connection, deadline in the client).
	Reason   string
	Domain   string
	Metadata map[string]string
	// RetryDelay is google.rpc.RetryInfo's delay; HasRetryDelay tells whether the gateway sent one.
	RetryDelay    time.Duration
	HasRetryDelay bool
	// Status is the full status, for the other details (BadRequest, QuotaFailure, ResourceInfo).
	Status *status.Status
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("llmgateway: %s %s: %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("llmgateway: %s: %s", e.Code, e.Message)
}

// GRPCStatus lets status.FromError and status.Code see through *Error.
func (e *Error) GRPCStatus() *status.Status { return e.Status }

// FromError converts any error from a gRPC call into *Error (nil stays nil; an *Error is returned as is).
func FromError(err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return already
	}
	st := status.Convert(err)
	out := &Error{Code: st.Code(), Message: st.Message(), Status: st}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			out.Reason, out.Domain, out.Metadata = d.GetReason(), d.GetDomain(), d.GetMetadata()
		case *errdetails.RetryInfo:
			out.RetryDelay, out.HasRetryDelay = d.GetRetryDelay().AsDuration(), true
		}
	}
	return out
}

// AsError finds an *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
