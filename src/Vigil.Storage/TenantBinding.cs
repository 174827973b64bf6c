using System.Text;
using Vigil.Otlp.Wire;

namespace Vigil.Storage;

/// <summary>
/// The tenant an authenticated request writes for: the ingest key's tenant, and whether the key may
/// write any tenant (an admin key, for an OpenTelemetry Collector gateway). One instance per
/// configured key, so a request carries it without allocating. Null where a request is not bound
/// (no ingest keys configured): then only the resource-over-point precedence applies.
/// </summary>
public sealed class TenantBinding
{
    // The highest legal protobuf field number: no OTLP revision will ever use it, and a reader that
    // does not know it (an older Vigil replaying this WAL) skips it as an unknown field.
    private const int LoggedBindingField = 536_870_911;
    private const int TenantField = 1;
    private const int AnyTenantField = 2;
    private static readonly byte[] LoggedBindingTag = Tag(LoggedBindingField, WireType.LengthDelimited);

    public TenantBinding(string tenant, bool anyTenant)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        Tenant = tenant;
        AnyTenant = anyTenant;
        TenantUtf8 = Encoding.UTF8.GetBytes(tenant);
        WalPrefix = EncodePrefix(TenantUtf8, anyTenant);
    }

    /// <summary>The key's tenant: what a point without a tenant attribute is stamped with.</summary>
    public string Tenant { get; }

    /// <summary>True for an admin key: points may name any tenant.</summary>
    public bool AnyTenant { get; }

    internal byte[] TenantUtf8 { get; }

    /// <summary>
    /// Written before the request in its WAL record, so a replay binds the points exactly as the live
    /// request did: stamped with the same tenant, the same claims refused.
    /// </summary>
    public ReadOnlyMemory<byte> WalPrefix { get; }

    /// <summary>Splits a WAL record into the binding it was logged with (null for an unbound one) and the OTLP request.</summary>
    /// <exception cref="OtlpFormatException">The record starts like a binding but is not a valid one.</exception>
    public static TenantBinding? FromWalRecord(ReadOnlySpan<byte> record, out ReadOnlySpan<byte> request)
    {
        request = record;
        if (!record.StartsWith(LoggedBindingTag))
        {
            return null;
        }

        var reader = new ProtoReader(record[LoggedBindingTag.Length..]);
        var message = new ProtoReader(reader.ReadLengthDelimited());
        string? tenant = null;
        var anyTenant = false;
        while (message.TryReadTag(out var field, out var wire))
        {
            if (field == TenantField && wire == WireType.LengthDelimited)
            {
                tenant = Encoding.UTF8.GetString(message.ReadLengthDelimited());
            }
            else if (field == AnyTenantField && wire == WireType.Varint)
            {
                anyTenant = message.ReadVarint() != 0;
            }
            else
            {
                message.Skip(wire);
            }
        }

        if (string.IsNullOrEmpty(tenant))
        {
            throw new OtlpFormatException("WAL record: tenant binding without a tenant");
        }

        request = record[(LoggedBindingTag.Length + reader.Position)..];
        return new TenantBinding(tenant, anyTenant);
    }

    private static byte[] EncodePrefix(byte[] tenant, bool anyTenant)
    {
        // binding message: [field 1: tenant][field 2: any_tenant], wrapped as field LoggedBindingField.
        var inner = 1 + Varint.Length((ulong)tenant.Length) + tenant.Length + (anyTenant ? 2 : 0);
        var prefix = new byte[LoggedBindingTag.Length + Varint.Length((ulong)inner) + inner];
        var at = 0;
        LoggedBindingTag.CopyTo(prefix, at);
        at += LoggedBindingTag.Length;
        at += Varint.Write(prefix.AsSpan(at), (ulong)inner);
        prefix[at++] = (TenantField << 3) | (byte)WireType.LengthDelimited;
        at += Varint.Write(prefix.AsSpan(at), (ulong)tenant.Length);
        tenant.CopyTo(prefix, at);
        at += tenant.Length;
        if (anyTenant)
        {
            prefix[at++] = (AnyTenantField << 3) | (byte)WireType.Varint;
            prefix[at] = 1;
        }

        return prefix;
    }

    private static byte[] Tag(int field, WireType wire)
    {
        var tag = ((ulong)field << 3) | (ulong)wire;
        var bytes = new byte[Varint.Length(tag)];
        Varint.Write(bytes, tag);
        return bytes;
    }
}
