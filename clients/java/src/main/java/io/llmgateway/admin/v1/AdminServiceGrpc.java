package io.llmgateway.admin.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * Keys, tenants, audit and usage of a gateway, at run time. Changes are stored in the gateway's
 * database (ledger.url) and reach every replica within admin.poll_interval_s.
 * Every call needs an admin credential: an admin key (admin.keys) sent as
 * `authorization: Bearer KEY` or `x-api-key: KEY`, or a TLS client certificate named in
 * admin.client_identities. None: UNAUTHENTICATED. An ordinary gateway key: PERMISSION_DENIED
 * (ADMIN_CREDENTIAL_REQUIRED). Every change is recorded as an AuditEvent. Errors carry a
 * google.rpc.ErrorInfo (domain "llmgateway"), and BadRequest for invalid fields.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class AdminServiceGrpc {

  private AdminServiceGrpc() {}

  public static final java.lang.String SERVICE_NAME = "llmgateway.admin.v1.AdminService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<io.llmgateway.admin.v1.CreateKeyRequest,
      io.llmgateway.admin.v1.CreateKeyResponse> getCreateKeyMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CreateKey",
      requestType = io.llmgateway.admin.v1.CreateKeyRequest.class,
      responseType = io.llmgateway.admin.v1.CreateKeyResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.admin.v1.CreateKeyRequest,
      io.llmgateway.admin.v1.CreateKeyResponse> getCreateKeyMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.admin.v1.CreateKeyRequest, io.llmgateway.admin.v1.CreateKeyResponse> getCreateKeyMethod;
    if ((getCreateKeyMethod = AdminServiceGrpc.getCreateKeyMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getCreateKeyMethod = AdminServiceGrpc.getCreateKeyMethod) == null) {
          AdminServiceGrpc.getCreateKeyMethod = getCreateKeyMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.admin.v1.CreateKeyRequest, io.llmgateway.admin.v1.CreateKeyResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CreateKey"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.CreateKeyRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.CreateKeyResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("CreateKey"))
              .build();
        }
      }
    }
    return getCreateKeyMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.llmgateway.admin.v1.ListKeysRequest,
      io.llmgateway.admin.v1.ListKeysResponse> getListKeysMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListKeys",
      requestType = io.llmgateway.admin.v1.ListKeysRequest.class,
      responseType = io.llmgateway.admin.v1.ListKeysResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.admin.v1.ListKeysRequest,
      io.llmgateway.admin.v1.ListKeysResponse> getListKeysMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.admin.v1.ListKeysRequest, io.llmgateway.admin.v1.ListKeysResponse> getListKeysMethod;
    if ((getListKeysMethod = AdminServiceGrpc.getListKeysMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getListKeysMethod = AdminServiceGrpc.getListKeysMethod) == null) {
          AdminServiceGrpc.getListKeysMethod = getListKeysMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.admin.v1.ListKeysRequest, io.llmgateway.admin.v1.ListKeysResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListKeys"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.ListKeysRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.ListKeysResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("ListKeys"))
              .build();
        }
      }
    }
    return getListKeysMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.llmgateway.admin.v1.GetKeyRequest,
      io.llmgateway.admin.v1.GetKeyResponse> getGetKeyMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetKey",
      requestType = io.llmgateway.admin.v1.GetKeyRequest.class,
      responseType = io.llmgateway.admin.v1.GetKeyResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.admin.v1.GetKeyRequest,
      io.llmgateway.admin.v1.GetKeyResponse> getGetKeyMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.admin.v1.GetKeyRequest, io.llmgateway.admin.v1.GetKeyResponse> getGetKeyMethod;
    if ((getGetKeyMethod = AdminServiceGrpc.getGetKeyMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getGetKeyMethod = AdminServiceGrpc.getGetKeyMethod) == null) {
          AdminServiceGrpc.getGetKeyMethod = getGetKeyMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.admin.v1.GetKeyRequest, io.llmgateway.admin.v1.GetKeyResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetKey"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.GetKeyRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.GetKeyResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("GetKey"))
              .build();
        }
      }
    }
    return getGetKeyMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.llmgateway.admin.v1.UpdateKeyRequest,
      io.llmgateway.admin.v1.UpdateKeyResponse> getUpdateKeyMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "UpdateKey",
      requestType = io.llmgateway.admin.v1.UpdateKeyRequest.class,
      responseType = io.llmgateway.admin.v1.UpdateKeyResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.admin.v1.UpdateKeyRequest,
      io.llmgateway.admin.v1.UpdateKeyResponse> getUpdateKeyMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.admin.v1.UpdateKeyRequest, io.llmgateway.admin.v1.UpdateKeyResponse> getUpdateKeyMethod;
    if ((getUpdateKeyMethod = AdminServiceGrpc.getUpdateKeyMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getUpdateKeyMethod = AdminServiceGrpc.getUpdateKeyMethod) == null) {
          AdminServiceGrpc.getUpdateKeyMethod = getUpdateKeyMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.admin.v1.UpdateKeyRequest, io.llmgateway.admin.v1.UpdateKeyResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "UpdateKey"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.UpdateKeyRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.UpdateKeyResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("UpdateKey"))
              .build();
        }
      }
    }
    return getUpdateKeyMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.llmgateway.admin.v1.RevokeKeyRequest,
      io.llmgateway.admin.v1.RevokeKeyResponse> getRevokeKeyMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "RevokeKey",
      requestType = io.llmgateway.admin.v1.RevokeKeyRequest.class,
      responseType = io.llmgateway.admin.v1.RevokeKeyResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.admin.v1.RevokeKeyRequest,
      io.llmgateway.admin.v1.RevokeKeyResponse> getRevokeKeyMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.admin.v1.RevokeKeyRequest, io.llmgateway.admin.v1.RevokeKeyResponse> getRevokeKeyMethod;
    if ((getRevokeKeyMethod = AdminServiceGrpc.getRevokeKeyMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getRevokeKeyMethod = AdminServiceGrpc.getRevokeKeyMethod) == null) {
          AdminServiceGrpc.getRevokeKeyMethod = getRevokeKeyMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.admin.v1.RevokeKeyRequest, io.llmgateway.admin.v1.RevokeKeyResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "RevokeKey"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.RevokeKeyRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.RevokeKeyResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("RevokeKey"))
              .build();
        }
      }
    }
    return getRevokeKeyMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.llmgateway.admin.v1.RotateKeyRequest,
      io.llmgateway.admin.v1.RotateKeyResponse> getRotateKeyMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "RotateKey",
      requestType = io.llmgateway.admin.v1.RotateKeyRequest.class,
      responseType = io.llmgateway.admin.v1.RotateKeyResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.admin.v1.RotateKeyRequest,
      io.llmgateway.admin.v1.RotateKeyResponse> getRotateKeyMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.admin.v1.RotateKeyRequest, io.llmgateway.admin.v1.RotateKeyResponse> getRotateKeyMethod;
    if ((getRotateKeyMethod = AdminServiceGrpc.getRotateKeyMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getRotateKeyMethod = AdminServiceGrpc.getRotateKeyMethod) == null) {
          AdminServiceGrpc.getRotateKeyMethod = getRotateKeyMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.admin.v1.RotateKeyRequest, io.llmgateway.admin.v1.RotateKeyResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "RotateKey"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.RotateKeyRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.RotateKeyResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("RotateKey"))
              .build();
        }
      }
    }
    return getRotateKeyMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.llmgateway.admin.v1.CreateTenantRequest,
      io.llmgateway.admin.v1.CreateTenantResponse> getCreateTenantMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CreateTenant",
      requestType = io.llmgateway.admin.v1.CreateTenantRequest.class,
      responseType = io.llmgateway.admin.v1.CreateTenantResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.admin.v1.CreateTenantRequest,
      io.llmgateway.admin.v1.CreateTenantResponse> getCreateTenantMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.admin.v1.CreateTenantRequest, io.llmgateway.admin.v1.CreateTenantResponse> getCreateTenantMethod;
    if ((getCreateTenantMethod = AdminServiceGrpc.getCreateTenantMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getCreateTenantMethod = AdminServiceGrpc.getCreateTenantMethod) == null) {
          AdminServiceGrpc.getCreateTenantMethod = getCreateTenantMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.admin.v1.CreateTenantRequest, io.llmgateway.admin.v1.CreateTenantResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CreateTenant"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.CreateTenantRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.CreateTenantResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("CreateTenant"))
              .build();
        }
      }
    }
    return getCreateTenantMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.llmgateway.admin.v1.ListTenantsRequest,
      io.llmgateway.admin.v1.ListTenantsResponse> getListTenantsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListTenants",
      requestType = io.llmgateway.admin.v1.ListTenantsRequest.class,
      responseType = io.llmgateway.admin.v1.ListTenantsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.admin.v1.ListTenantsRequest,
      io.llmgateway.admin.v1.ListTenantsResponse> getListTenantsMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.admin.v1.ListTenantsRequest, io.llmgateway.admin.v1.ListTenantsResponse> getListTenantsMethod;
    if ((getListTenantsMethod = AdminServiceGrpc.getListTenantsMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getListTenantsMethod = AdminServiceGrpc.getListTenantsMethod) == null) {
          AdminServiceGrpc.getListTenantsMethod = getListTenantsMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.admin.v1.ListTenantsRequest, io.llmgateway.admin.v1.ListTenantsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListTenants"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.ListTenantsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.ListTenantsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("ListTenants"))
              .build();
        }
      }
    }
    return getListTenantsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.llmgateway.admin.v1.GetTenantRequest,
      io.llmgateway.admin.v1.GetTenantResponse> getGetTenantMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetTenant",
      requestType = io.llmgateway.admin.v1.GetTenantRequest.class,
      responseType = io.llmgateway.admin.v1.GetTenantResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.admin.v1.GetTenantRequest,
      io.llmgateway.admin.v1.GetTenantResponse> getGetTenantMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.admin.v1.GetTenantRequest, io.llmgateway.admin.v1.GetTenantResponse> getGetTenantMethod;
    if ((getGetTenantMethod = AdminServiceGrpc.getGetTenantMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getGetTenantMethod = AdminServiceGrpc.getGetTenantMethod) == null) {
          AdminServiceGrpc.getGetTenantMethod = getGetTenantMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.admin.v1.GetTenantRequest, io.llmgateway.admin.v1.GetTenantResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetTenant"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.GetTenantRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.GetTenantResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("GetTenant"))
              .build();
        }
      }
    }
    return getGetTenantMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.llmgateway.admin.v1.UpdateTenantRequest,
      io.llmgateway.admin.v1.UpdateTenantResponse> getUpdateTenantMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "UpdateTenant",
      requestType = io.llmgateway.admin.v1.UpdateTenantRequest.class,
      responseType = io.llmgateway.admin.v1.UpdateTenantResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.admin.v1.UpdateTenantRequest,
      io.llmgateway.admin.v1.UpdateTenantResponse> getUpdateTenantMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.admin.v1.UpdateTenantRequest, io.llmgateway.admin.v1.UpdateTenantResponse> getUpdateTenantMethod;
    if ((getUpdateTenantMethod = AdminServiceGrpc.getUpdateTenantMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getUpdateTenantMethod = AdminServiceGrpc.getUpdateTenantMethod) == null) {
          AdminServiceGrpc.getUpdateTenantMethod = getUpdateTenantMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.admin.v1.UpdateTenantRequest, io.llmgateway.admin.v1.UpdateTenantResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "UpdateTenant"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.UpdateTenantRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.UpdateTenantResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("UpdateTenant"))
              .build();
        }
      }
    }
    return getUpdateTenantMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.llmgateway.admin.v1.DeleteTenantRequest,
      io.llmgateway.admin.v1.DeleteTenantResponse> getDeleteTenantMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DeleteTenant",
      requestType = io.llmgateway.admin.v1.DeleteTenantRequest.class,
      responseType = io.llmgateway.admin.v1.DeleteTenantResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.admin.v1.DeleteTenantRequest,
      io.llmgateway.admin.v1.DeleteTenantResponse> getDeleteTenantMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.admin.v1.DeleteTenantRequest, io.llmgateway.admin.v1.DeleteTenantResponse> getDeleteTenantMethod;
    if ((getDeleteTenantMethod = AdminServiceGrpc.getDeleteTenantMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getDeleteTenantMethod = AdminServiceGrpc.getDeleteTenantMethod) == null) {
          AdminServiceGrpc.getDeleteTenantMethod = getDeleteTenantMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.admin.v1.DeleteTenantRequest, io.llmgateway.admin.v1.DeleteTenantResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DeleteTenant"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.DeleteTenantRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.DeleteTenantResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("DeleteTenant"))
              .build();
        }
      }
    }
    return getDeleteTenantMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.llmgateway.admin.v1.GetUsageRequest,
      io.llmgateway.admin.v1.GetUsageResponse> getGetUsageMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetUsage",
      requestType = io.llmgateway.admin.v1.GetUsageRequest.class,
      responseType = io.llmgateway.admin.v1.GetUsageResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.admin.v1.GetUsageRequest,
      io.llmgateway.admin.v1.GetUsageResponse> getGetUsageMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.admin.v1.GetUsageRequest, io.llmgateway.admin.v1.GetUsageResponse> getGetUsageMethod;
    if ((getGetUsageMethod = AdminServiceGrpc.getGetUsageMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getGetUsageMethod = AdminServiceGrpc.getGetUsageMethod) == null) {
          AdminServiceGrpc.getGetUsageMethod = getGetUsageMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.admin.v1.GetUsageRequest, io.llmgateway.admin.v1.GetUsageResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetUsage"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.GetUsageRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.GetUsageResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("GetUsage"))
              .build();
        }
      }
    }
    return getGetUsageMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.llmgateway.admin.v1.ListAuditEventsRequest,
      io.llmgateway.admin.v1.ListAuditEventsResponse> getListAuditEventsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListAuditEvents",
      requestType = io.llmgateway.admin.v1.ListAuditEventsRequest.class,
      responseType = io.llmgateway.admin.v1.ListAuditEventsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.llmgateway.admin.v1.ListAuditEventsRequest,
      io.llmgateway.admin.v1.ListAuditEventsResponse> getListAuditEventsMethod() {
    io.grpc.MethodDescriptor<io.llmgateway.admin.v1.ListAuditEventsRequest, io.llmgateway.admin.v1.ListAuditEventsResponse> getListAuditEventsMethod;
    if ((getListAuditEventsMethod = AdminServiceGrpc.getListAuditEventsMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getListAuditEventsMethod = AdminServiceGrpc.getListAuditEventsMethod) == null) {
          AdminServiceGrpc.getListAuditEventsMethod = getListAuditEventsMethod =
              io.grpc.MethodDescriptor.<io.llmgateway.admin.v1.ListAuditEventsRequest, io.llmgateway.admin.v1.ListAuditEventsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListAuditEvents"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.ListAuditEventsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.llmgateway.admin.v1.ListAuditEventsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("ListAuditEvents"))
              .build();
        }
      }
    }
    return getListAuditEventsMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static AdminServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceStub>() {
        @java.lang.Override
        public AdminServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceStub(channel, callOptions);
        }
      };
    return AdminServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static AdminServiceBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceBlockingV2Stub>() {
        @java.lang.Override
        public AdminServiceBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceBlockingV2Stub(channel, callOptions);
        }
      };
    return AdminServiceBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static AdminServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceBlockingStub>() {
        @java.lang.Override
        public AdminServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceBlockingStub(channel, callOptions);
        }
      };
    return AdminServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static AdminServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceFutureStub>() {
        @java.lang.Override
        public AdminServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceFutureStub(channel, callOptions);
        }
      };
    return AdminServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * Keys, tenants, audit and usage of a gateway, at run time. Changes are stored in the gateway's
   * database (ledger.url) and reach every replica within admin.poll_interval_s.
   * Every call needs an admin credential: an admin key (admin.keys) sent as
   * `authorization: Bearer KEY` or `x-api-key: KEY`, or a TLS client certificate named in
   * admin.client_identities. None: UNAUTHENTICATED. An ordinary gateway key: PERMISSION_DENIED
   * (ADMIN_CREDENTIAL_REQUIRED). Every change is recorded as an AuditEvent. Errors carry a
   * google.rpc.ErrorInfo (domain "llmgateway"), and BadRequest for invalid fields.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * Makes a key. The response holds its secret, shown this once: the gateway stores only a hash.
     * </pre>
     */
    default void createKey(io.llmgateway.admin.v1.CreateKeyRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.CreateKeyResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCreateKeyMethod(), responseObserver);
    }

    /**
     * <pre>
     * Lists keys, those from the config and keys file (source CONFIG) included, sorted by id.
     * </pre>
     */
    default void listKeys(io.llmgateway.admin.v1.ListKeysRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.ListKeysResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListKeysMethod(), responseObserver);
    }

    /**
     * <pre>
     * One key, by id.
     * </pre>
     */
    default void getKey(io.llmgateway.admin.v1.GetKeyRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.GetKeyResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetKeyMethod(), responseObserver);
    }

    /**
     * <pre>
     * Changes a key's name, tenant, tags or policy. Keys from the config are read-only
     * (FAILED_PRECONDITION).
     * </pre>
     */
    default void updateKey(io.llmgateway.admin.v1.UpdateKeyRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.UpdateKeyResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getUpdateKeyMethod(), responseObserver);
    }

    /**
     * <pre>
     * Revokes a key now. Revoking a revoked key changes nothing.
     * </pre>
     */
    default void revokeKey(io.llmgateway.admin.v1.RevokeKeyRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.RevokeKeyResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getRevokeKeyMethod(), responseObserver);
    }

    /**
     * <pre>
     * Makes a new key with the same tenant, tags and policy and revokes the old one, at once or
     * after a grace period. The response holds the new secret, shown this once.
     * </pre>
     */
    default void rotateKey(io.llmgateway.admin.v1.RotateKeyRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.RotateKeyResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getRotateKeyMethod(), responseObserver);
    }

    /**
     * <pre>
     * Makes a tenant: limits and a budget shared by all its keys.
     * </pre>
     */
    default void createTenant(io.llmgateway.admin.v1.CreateTenantRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.CreateTenantResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCreateTenantMethod(), responseObserver);
    }

    /**
     * <pre>
     * Lists tenants, those from the config (source CONFIG) included, sorted by name.
     * </pre>
     */
    default void listTenants(io.llmgateway.admin.v1.ListTenantsRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.ListTenantsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListTenantsMethod(), responseObserver);
    }

    /**
     * <pre>
     * One tenant, by name.
     * </pre>
     */
    default void getTenant(io.llmgateway.admin.v1.GetTenantRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.GetTenantResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetTenantMethod(), responseObserver);
    }

    /**
     * <pre>
     * Changes a tenant's limits, budget or disabled flag (a disabled tenant's keys are refused).
     * </pre>
     */
    default void updateTenant(io.llmgateway.admin.v1.UpdateTenantRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.UpdateTenantResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getUpdateTenantMethod(), responseObserver);
    }

    /**
     * <pre>
     * Deletes a tenant that has no unrevoked keys (FAILED_PRECONDITION otherwise).
     * </pre>
     */
    default void deleteTenant(io.llmgateway.admin.v1.DeleteTenantRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.DeleteTenantResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDeleteTenantMethod(), responseObserver);
    }

    /**
     * <pre>
     * Usage and cost from the spend ledger over a time range, grouped as asked.
     * </pre>
     */
    default void getUsage(io.llmgateway.admin.v1.GetUsageRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.GetUsageResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetUsageMethod(), responseObserver);
    }

    /**
     * <pre>
     * The record of admin changes, newest first.
     * </pre>
     */
    default void listAuditEvents(io.llmgateway.admin.v1.ListAuditEventsRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.ListAuditEventsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListAuditEventsMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service AdminService.
   * <pre>
   * Keys, tenants, audit and usage of a gateway, at run time. Changes are stored in the gateway's
   * database (ledger.url) and reach every replica within admin.poll_interval_s.
   * Every call needs an admin credential: an admin key (admin.keys) sent as
   * `authorization: Bearer KEY` or `x-api-key: KEY`, or a TLS client certificate named in
   * admin.client_identities. None: UNAUTHENTICATED. An ordinary gateway key: PERMISSION_DENIED
   * (ADMIN_CREDENTIAL_REQUIRED). Every change is recorded as an AuditEvent. Errors carry a
   * google.rpc.ErrorInfo (domain "llmgateway"), and BadRequest for invalid fields.
   * </pre>
   */
  public static abstract class AdminServiceImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return AdminServiceGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service AdminService.
   * <pre>
   * Keys, tenants, audit and usage of a gateway, at run time. Changes are stored in the gateway's
   * database (ledger.url) and reach every replica within admin.poll_interval_s.
   * Every call needs an admin credential: an admin key (admin.keys) sent as
   * `authorization: Bearer KEY` or `x-api-key: KEY`, or a TLS client certificate named in
   * admin.client_identities. None: UNAUTHENTICATED. An ordinary gateway key: PERMISSION_DENIED
   * (ADMIN_CREDENTIAL_REQUIRED). Every change is recorded as an AuditEvent. Errors carry a
   * google.rpc.ErrorInfo (domain "llmgateway"), and BadRequest for invalid fields.
   * </pre>
   */
  public static final class AdminServiceStub
      extends io.grpc.stub.AbstractAsyncStub<AdminServiceStub> {
    private AdminServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Makes a key. The response holds its secret, shown this once: the gateway stores only a hash.
     * </pre>
     */
    public void createKey(io.llmgateway.admin.v1.CreateKeyRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.CreateKeyResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCreateKeyMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Lists keys, those from the config and keys file (source CONFIG) included, sorted by id.
     * </pre>
     */
    public void listKeys(io.llmgateway.admin.v1.ListKeysRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.ListKeysResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListKeysMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * One key, by id.
     * </pre>
     */
    public void getKey(io.llmgateway.admin.v1.GetKeyRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.GetKeyResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetKeyMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Changes a key's name, tenant, tags or policy. Keys from the config are read-only
     * (FAILED_PRECONDITION).
     * </pre>
     */
    public void updateKey(io.llmgateway.admin.v1.UpdateKeyRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.UpdateKeyResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getUpdateKeyMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Revokes a key now. Revoking a revoked key changes nothing.
     * </pre>
     */
    public void revokeKey(io.llmgateway.admin.v1.RevokeKeyRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.RevokeKeyResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getRevokeKeyMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Makes a new key with the same tenant, tags and policy and revokes the old one, at once or
     * after a grace period. The response holds the new secret, shown this once.
     * </pre>
     */
    public void rotateKey(io.llmgateway.admin.v1.RotateKeyRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.RotateKeyResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getRotateKeyMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Makes a tenant: limits and a budget shared by all its keys.
     * </pre>
     */
    public void createTenant(io.llmgateway.admin.v1.CreateTenantRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.CreateTenantResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCreateTenantMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Lists tenants, those from the config (source CONFIG) included, sorted by name.
     * </pre>
     */
    public void listTenants(io.llmgateway.admin.v1.ListTenantsRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.ListTenantsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListTenantsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * One tenant, by name.
     * </pre>
     */
    public void getTenant(io.llmgateway.admin.v1.GetTenantRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.GetTenantResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetTenantMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Changes a tenant's limits, budget or disabled flag (a disabled tenant's keys are refused).
     * </pre>
     */
    public void updateTenant(io.llmgateway.admin.v1.UpdateTenantRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.UpdateTenantResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getUpdateTenantMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Deletes a tenant that has no unrevoked keys (FAILED_PRECONDITION otherwise).
     * </pre>
     */
    public void deleteTenant(io.llmgateway.admin.v1.DeleteTenantRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.DeleteTenantResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDeleteTenantMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Usage and cost from the spend ledger over a time range, grouped as asked.
     * </pre>
     */
    public void getUsage(io.llmgateway.admin.v1.GetUsageRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.GetUsageResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetUsageMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * The record of admin changes, newest first.
     * </pre>
     */
    public void listAuditEvents(io.llmgateway.admin.v1.ListAuditEventsRequest request,
        io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.ListAuditEventsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListAuditEventsMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service AdminService.
   * <pre>
   * Keys, tenants, audit and usage of a gateway, at run time. Changes are stored in the gateway's
   * database (ledger.url) and reach every replica within admin.poll_interval_s.
   * Every call needs an admin credential: an admin key (admin.keys) sent as
   * `authorization: Bearer KEY` or `x-api-key: KEY`, or a TLS client certificate named in
   * admin.client_identities. None: UNAUTHENTICATED. An ordinary gateway key: PERMISSION_DENIED
   * (ADMIN_CREDENTIAL_REQUIRED). Every change is recorded as an AuditEvent. Errors carry a
   * google.rpc.ErrorInfo (domain "llmgateway"), and BadRequest for invalid fields.
   * </pre>
   */
  public static final class AdminServiceBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<AdminServiceBlockingV2Stub> {
    private AdminServiceBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * Makes a key. The response holds its secret, shown this once: the gateway stores only a hash.
     * </pre>
     */
    public io.llmgateway.admin.v1.CreateKeyResponse createKey(io.llmgateway.admin.v1.CreateKeyRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getCreateKeyMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists keys, those from the config and keys file (source CONFIG) included, sorted by id.
     * </pre>
     */
    public io.llmgateway.admin.v1.ListKeysResponse listKeys(io.llmgateway.admin.v1.ListKeysRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListKeysMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * One key, by id.
     * </pre>
     */
    public io.llmgateway.admin.v1.GetKeyResponse getKey(io.llmgateway.admin.v1.GetKeyRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetKeyMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Changes a key's name, tenant, tags or policy. Keys from the config are read-only
     * (FAILED_PRECONDITION).
     * </pre>
     */
    public io.llmgateway.admin.v1.UpdateKeyResponse updateKey(io.llmgateway.admin.v1.UpdateKeyRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getUpdateKeyMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Revokes a key now. Revoking a revoked key changes nothing.
     * </pre>
     */
    public io.llmgateway.admin.v1.RevokeKeyResponse revokeKey(io.llmgateway.admin.v1.RevokeKeyRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getRevokeKeyMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Makes a new key with the same tenant, tags and policy and revokes the old one, at once or
     * after a grace period. The response holds the new secret, shown this once.
     * </pre>
     */
    public io.llmgateway.admin.v1.RotateKeyResponse rotateKey(io.llmgateway.admin.v1.RotateKeyRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getRotateKeyMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Makes a tenant: limits and a budget shared by all its keys.
     * </pre>
     */
    public io.llmgateway.admin.v1.CreateTenantResponse createTenant(io.llmgateway.admin.v1.CreateTenantRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getCreateTenantMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists tenants, those from the config (source CONFIG) included, sorted by name.
     * </pre>
     */
    public io.llmgateway.admin.v1.ListTenantsResponse listTenants(io.llmgateway.admin.v1.ListTenantsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListTenantsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * One tenant, by name.
     * </pre>
     */
    public io.llmgateway.admin.v1.GetTenantResponse getTenant(io.llmgateway.admin.v1.GetTenantRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetTenantMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Changes a tenant's limits, budget or disabled flag (a disabled tenant's keys are refused).
     * </pre>
     */
    public io.llmgateway.admin.v1.UpdateTenantResponse updateTenant(io.llmgateway.admin.v1.UpdateTenantRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getUpdateTenantMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Deletes a tenant that has no unrevoked keys (FAILED_PRECONDITION otherwise).
     * </pre>
     */
    public io.llmgateway.admin.v1.DeleteTenantResponse deleteTenant(io.llmgateway.admin.v1.DeleteTenantRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getDeleteTenantMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Usage and cost from the spend ledger over a time range, grouped as asked.
     * </pre>
     */
    public io.llmgateway.admin.v1.GetUsageResponse getUsage(io.llmgateway.admin.v1.GetUsageRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetUsageMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * The record of admin changes, newest first.
     * </pre>
     */
    public io.llmgateway.admin.v1.ListAuditEventsResponse listAuditEvents(io.llmgateway.admin.v1.ListAuditEventsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListAuditEventsMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service AdminService.
   * <pre>
   * Keys, tenants, audit and usage of a gateway, at run time. Changes are stored in the gateway's
   * database (ledger.url) and reach every replica within admin.poll_interval_s.
   * Every call needs an admin credential: an admin key (admin.keys) sent as
   * `authorization: Bearer KEY` or `x-api-key: KEY`, or a TLS client certificate named in
   * admin.client_identities. None: UNAUTHENTICATED. An ordinary gateway key: PERMISSION_DENIED
   * (ADMIN_CREDENTIAL_REQUIRED). Every change is recorded as an AuditEvent. Errors carry a
   * google.rpc.ErrorInfo (domain "llmgateway"), and BadRequest for invalid fields.
   * </pre>
   */
  public static final class AdminServiceBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<AdminServiceBlockingStub> {
    private AdminServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Makes a key. The response holds its secret, shown this once: the gateway stores only a hash.
     * </pre>
     */
    public io.llmgateway.admin.v1.CreateKeyResponse createKey(io.llmgateway.admin.v1.CreateKeyRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCreateKeyMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists keys, those from the config and keys file (source CONFIG) included, sorted by id.
     * </pre>
     */
    public io.llmgateway.admin.v1.ListKeysResponse listKeys(io.llmgateway.admin.v1.ListKeysRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListKeysMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * One key, by id.
     * </pre>
     */
    public io.llmgateway.admin.v1.GetKeyResponse getKey(io.llmgateway.admin.v1.GetKeyRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetKeyMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Changes a key's name, tenant, tags or policy. Keys from the config are read-only
     * (FAILED_PRECONDITION).
     * </pre>
     */
    public io.llmgateway.admin.v1.UpdateKeyResponse updateKey(io.llmgateway.admin.v1.UpdateKeyRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getUpdateKeyMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Revokes a key now. Revoking a revoked key changes nothing.
     * </pre>
     */
    public io.llmgateway.admin.v1.RevokeKeyResponse revokeKey(io.llmgateway.admin.v1.RevokeKeyRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getRevokeKeyMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Makes a new key with the same tenant, tags and policy and revokes the old one, at once or
     * after a grace period. The response holds the new secret, shown this once.
     * </pre>
     */
    public io.llmgateway.admin.v1.RotateKeyResponse rotateKey(io.llmgateway.admin.v1.RotateKeyRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getRotateKeyMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Makes a tenant: limits and a budget shared by all its keys.
     * </pre>
     */
    public io.llmgateway.admin.v1.CreateTenantResponse createTenant(io.llmgateway.admin.v1.CreateTenantRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCreateTenantMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Lists tenants, those from the config (source CONFIG) included, sorted by name.
     * </pre>
     */
    public io.llmgateway.admin.v1.ListTenantsResponse listTenants(io.llmgateway.admin.v1.ListTenantsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListTenantsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * One tenant, by name.
     * </pre>
     */
    public io.llmgateway.admin.v1.GetTenantResponse getTenant(io.llmgateway.admin.v1.GetTenantRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetTenantMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Changes a tenant's limits, budget or disabled flag (a disabled tenant's keys are refused).
     * </pre>
     */
    public io.llmgateway.admin.v1.UpdateTenantResponse updateTenant(io.llmgateway.admin.v1.UpdateTenantRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getUpdateTenantMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Deletes a tenant that has no unrevoked keys (FAILED_PRECONDITION otherwise).
     * </pre>
     */
    public io.llmgateway.admin.v1.DeleteTenantResponse deleteTenant(io.llmgateway.admin.v1.DeleteTenantRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDeleteTenantMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Usage and cost from the spend ledger over a time range, grouped as asked.
     * </pre>
     */
    public io.llmgateway.admin.v1.GetUsageResponse getUsage(io.llmgateway.admin.v1.GetUsageRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetUsageMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * The record of admin changes, newest first.
     * </pre>
     */
    public io.llmgateway.admin.v1.ListAuditEventsResponse listAuditEvents(io.llmgateway.admin.v1.ListAuditEventsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListAuditEventsMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service AdminService.
   * <pre>
   * Keys, tenants, audit and usage of a gateway, at run time. Changes are stored in the gateway's
   * database (ledger.url) and reach every replica within admin.poll_interval_s.
   * Every call needs an admin credential: an admin key (admin.keys) sent as
   * `authorization: Bearer KEY` or `x-api-key: KEY`, or a TLS client certificate named in
   * admin.client_identities. None: UNAUTHENTICATED. An ordinary gateway key: PERMISSION_DENIED
   * (ADMIN_CREDENTIAL_REQUIRED). Every change is recorded as an AuditEvent. Errors carry a
   * google.rpc.ErrorInfo (domain "llmgateway"), and BadRequest for invalid fields.
   * </pre>
   */
  public static final class AdminServiceFutureStub
      extends io.grpc.stub.AbstractFutureStub<AdminServiceFutureStub> {
    private AdminServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Makes a key. The response holds its secret, shown this once: the gateway stores only a hash.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.admin.v1.CreateKeyResponse> createKey(
        io.llmgateway.admin.v1.CreateKeyRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCreateKeyMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Lists keys, those from the config and keys file (source CONFIG) included, sorted by id.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.admin.v1.ListKeysResponse> listKeys(
        io.llmgateway.admin.v1.ListKeysRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListKeysMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * One key, by id.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.admin.v1.GetKeyResponse> getKey(
        io.llmgateway.admin.v1.GetKeyRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetKeyMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Changes a key's name, tenant, tags or policy. Keys from the config are read-only
     * (FAILED_PRECONDITION).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.admin.v1.UpdateKeyResponse> updateKey(
        io.llmgateway.admin.v1.UpdateKeyRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getUpdateKeyMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Revokes a key now. Revoking a revoked key changes nothing.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.admin.v1.RevokeKeyResponse> revokeKey(
        io.llmgateway.admin.v1.RevokeKeyRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getRevokeKeyMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Makes a new key with the same tenant, tags and policy and revokes the old one, at once or
     * after a grace period. The response holds the new secret, shown this once.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.admin.v1.RotateKeyResponse> rotateKey(
        io.llmgateway.admin.v1.RotateKeyRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getRotateKeyMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Makes a tenant: limits and a budget shared by all its keys.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.admin.v1.CreateTenantResponse> createTenant(
        io.llmgateway.admin.v1.CreateTenantRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCreateTenantMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Lists tenants, those from the config (source CONFIG) included, sorted by name.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.admin.v1.ListTenantsResponse> listTenants(
        io.llmgateway.admin.v1.ListTenantsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListTenantsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * One tenant, by name.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.admin.v1.GetTenantResponse> getTenant(
        io.llmgateway.admin.v1.GetTenantRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetTenantMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Changes a tenant's limits, budget or disabled flag (a disabled tenant's keys are refused).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.admin.v1.UpdateTenantResponse> updateTenant(
        io.llmgateway.admin.v1.UpdateTenantRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getUpdateTenantMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Deletes a tenant that has no unrevoked keys (FAILED_PRECONDITION otherwise).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.admin.v1.DeleteTenantResponse> deleteTenant(
        io.llmgateway.admin.v1.DeleteTenantRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDeleteTenantMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Usage and cost from the spend ledger over a time range, grouped as asked.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.admin.v1.GetUsageResponse> getUsage(
        io.llmgateway.admin.v1.GetUsageRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetUsageMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * The record of admin changes, newest first.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.llmgateway.admin.v1.ListAuditEventsResponse> listAuditEvents(
        io.llmgateway.admin.v1.ListAuditEventsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListAuditEventsMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_CREATE_KEY = 0;
  private static final int METHODID_LIST_KEYS = 1;
  private static final int METHODID_GET_KEY = 2;
  private static final int METHODID_UPDATE_KEY = 3;
  private static final int METHODID_REVOKE_KEY = 4;
  private static final int METHODID_ROTATE_KEY = 5;
  private static final int METHODID_CREATE_TENANT = 6;
  private static final int METHODID_LIST_TENANTS = 7;
  private static final int METHODID_GET_TENANT = 8;
  private static final int METHODID_UPDATE_TENANT = 9;
  private static final int METHODID_DELETE_TENANT = 10;
  private static final int METHODID_GET_USAGE = 11;
  private static final int METHODID_LIST_AUDIT_EVENTS = 12;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final AsyncService serviceImpl;
    private final int methodId;

    MethodHandlers(AsyncService serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_CREATE_KEY:
          serviceImpl.createKey((io.llmgateway.admin.v1.CreateKeyRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.CreateKeyResponse>) responseObserver);
          break;
        case METHODID_LIST_KEYS:
          serviceImpl.listKeys((io.llmgateway.admin.v1.ListKeysRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.ListKeysResponse>) responseObserver);
          break;
        case METHODID_GET_KEY:
          serviceImpl.getKey((io.llmgateway.admin.v1.GetKeyRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.GetKeyResponse>) responseObserver);
          break;
        case METHODID_UPDATE_KEY:
          serviceImpl.updateKey((io.llmgateway.admin.v1.UpdateKeyRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.UpdateKeyResponse>) responseObserver);
          break;
        case METHODID_REVOKE_KEY:
          serviceImpl.revokeKey((io.llmgateway.admin.v1.RevokeKeyRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.RevokeKeyResponse>) responseObserver);
          break;
        case METHODID_ROTATE_KEY:
          serviceImpl.rotateKey((io.llmgateway.admin.v1.RotateKeyRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.RotateKeyResponse>) responseObserver);
          break;
        case METHODID_CREATE_TENANT:
          serviceImpl.createTenant((io.llmgateway.admin.v1.CreateTenantRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.CreateTenantResponse>) responseObserver);
          break;
        case METHODID_LIST_TENANTS:
          serviceImpl.listTenants((io.llmgateway.admin.v1.ListTenantsRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.ListTenantsResponse>) responseObserver);
          break;
        case METHODID_GET_TENANT:
          serviceImpl.getTenant((io.llmgateway.admin.v1.GetTenantRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.GetTenantResponse>) responseObserver);
          break;
        case METHODID_UPDATE_TENANT:
          serviceImpl.updateTenant((io.llmgateway.admin.v1.UpdateTenantRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.UpdateTenantResponse>) responseObserver);
          break;
        case METHODID_DELETE_TENANT:
          serviceImpl.deleteTenant((io.llmgateway.admin.v1.DeleteTenantRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.DeleteTenantResponse>) responseObserver);
          break;
        case METHODID_GET_USAGE:
          serviceImpl.getUsage((io.llmgateway.admin.v1.GetUsageRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.GetUsageResponse>) responseObserver);
          break;
        case METHODID_LIST_AUDIT_EVENTS:
          serviceImpl.listAuditEvents((io.llmgateway.admin.v1.ListAuditEventsRequest) request,
              (io.grpc.stub.StreamObserver<io.llmgateway.admin.v1.ListAuditEventsResponse>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        default:
          throw new AssertionError();
      }
    }
  }

  public static final io.grpc.ServerServiceDefinition bindService(AsyncService service) {
    return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
        .addMethod(
          getCreateKeyMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.admin.v1.CreateKeyRequest,
              io.llmgateway.admin.v1.CreateKeyResponse>(
                service, METHODID_CREATE_KEY)))
        .addMethod(
          getListKeysMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.admin.v1.ListKeysRequest,
              io.llmgateway.admin.v1.ListKeysResponse>(
                service, METHODID_LIST_KEYS)))
        .addMethod(
          getGetKeyMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.admin.v1.GetKeyRequest,
              io.llmgateway.admin.v1.GetKeyResponse>(
                service, METHODID_GET_KEY)))
        .addMethod(
          getUpdateKeyMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.admin.v1.UpdateKeyRequest,
              io.llmgateway.admin.v1.UpdateKeyResponse>(
                service, METHODID_UPDATE_KEY)))
        .addMethod(
          getRevokeKeyMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.admin.v1.RevokeKeyRequest,
              io.llmgateway.admin.v1.RevokeKeyResponse>(
                service, METHODID_REVOKE_KEY)))
        .addMethod(
          getRotateKeyMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.admin.v1.RotateKeyRequest,
              io.llmgateway.admin.v1.RotateKeyResponse>(
                service, METHODID_ROTATE_KEY)))
        .addMethod(
          getCreateTenantMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.admin.v1.CreateTenantRequest,
              io.llmgateway.admin.v1.CreateTenantResponse>(
                service, METHODID_CREATE_TENANT)))
        .addMethod(
          getListTenantsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.admin.v1.ListTenantsRequest,
              io.llmgateway.admin.v1.ListTenantsResponse>(
                service, METHODID_LIST_TENANTS)))
        .addMethod(
          getGetTenantMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.admin.v1.GetTenantRequest,
              io.llmgateway.admin.v1.GetTenantResponse>(
                service, METHODID_GET_TENANT)))
        .addMethod(
          getUpdateTenantMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.admin.v1.UpdateTenantRequest,
              io.llmgateway.admin.v1.UpdateTenantResponse>(
                service, METHODID_UPDATE_TENANT)))
        .addMethod(
          getDeleteTenantMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.admin.v1.DeleteTenantRequest,
              io.llmgateway.admin.v1.DeleteTenantResponse>(
                service, METHODID_DELETE_TENANT)))
        .addMethod(
          getGetUsageMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.admin.v1.GetUsageRequest,
              io.llmgateway.admin.v1.GetUsageResponse>(
                service, METHODID_GET_USAGE)))
        .addMethod(
          getListAuditEventsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.llmgateway.admin.v1.ListAuditEventsRequest,
              io.llmgateway.admin.v1.ListAuditEventsResponse>(
                service, METHODID_LIST_AUDIT_EVENTS)))
        .build();
  }

  private static abstract class AdminServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    AdminServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return io.llmgateway.admin.v1.AdminProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("AdminService");
    }
  }

  private static final class AdminServiceFileDescriptorSupplier
      extends AdminServiceBaseDescriptorSupplier {
    AdminServiceFileDescriptorSupplier() {}
  }

  private static final class AdminServiceMethodDescriptorSupplier
      extends AdminServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    AdminServiceMethodDescriptorSupplier(java.lang.String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (AdminServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new AdminServiceFileDescriptorSupplier())
              .addMethod(getCreateKeyMethod())
              .addMethod(getListKeysMethod())
              .addMethod(getGetKeyMethod())
              .addMethod(getUpdateKeyMethod())
              .addMethod(getRevokeKeyMethod())
              .addMethod(getRotateKeyMethod())
              .addMethod(getCreateTenantMethod())
              .addMethod(getListTenantsMethod())
              .addMethod(getGetTenantMethod())
              .addMethod(getUpdateTenantMethod())
              .addMethod(getDeleteTenantMethod())
              .addMethod(getGetUsageMethod())
              .addMethod(getListAuditEventsMethod())
              .build();
        }
      }
    }
    return result;
  }
}
