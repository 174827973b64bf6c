using System.Text;
using Vigil.Otlp.Wire;

namespace Vigil.Storage;

/// <summary>
/// Decides which tenant a point belongs to (docs/security.md, "Which tenant a point belongs to"):
/// <list type="number">
/// <item>the resource's tenant attribute is authoritative: a point attribute naming another tenant is refused;</item>
/// <item>under an ingest key, the key's tenant wins: any other claim (resource or point) is refused, and a
/// point that names no tenant is stamped with the key's; an admin key accepts any claim.</item>
/// </list>
/// Never re-labels a point. One per ingest session; allocates only when it refuses.
/// </summary>
internal sealed class TenantResolver
{
    private const int MaxShownValue = 64;

    private readonly byte[] _attribute;
    private readonly string _attributeName;
    private readonly Dictionary<string, int> _mismatches = new(StringComparer.Ordinal);
    private TenantBinding? _binding;
    private byte[] _resourceTenant = new byte[64];
    private int _resourceTenantLength = -1;
    private AttributeValueType _resourceTenantType;
    private string? _resourceTenantName;

    public TenantResolver(string attribute)
    {
        _attributeName = attribute;
        _attribute = Encoding.UTF8.GetBytes(attribute);
    }

    /// <summary>The first refusal of the request in words, for partial_success.</summary>
    public string? Detail { get; private set; }

    public void Reset(TenantBinding? binding)
    {
        _binding = binding;
        _resourceTenantLength = -1;
        _resourceTenantName = null;
        _mismatches.Clear();
        Detail = null;
    }

    public void BeginResource(AttributeList resource)
    {
        _resourceTenantLength = -1;
        _resourceTenantName = null;
        var reader = resource.GetReader();
        while (reader.MoveNext())
        {
            if (!reader.Key.SequenceEqual(_attribute))
            {
                continue;
            }

            if (_resourceTenant.Length < reader.Value.Length)
            {
                _resourceTenant = new byte[reader.Value.Length];
            }

            reader.Value.CopyTo(_resourceTenant);
            _resourceTenantLength = reader.Value.Length;
            _resourceTenantType = reader.ValueType;
            return; // the first one stands, as for point attributes
        }
    }

    /// <summary>Checks the point loaded into <paramref name="key"/>; stamps the key's tenant where it names none. Returns a refusal or null.</summary>
    public string? Resolve(SeriesKeyBuilder key)
    {
        var onPoint = key.TryGetPointValue(_attribute, out var pointType, out var pointValue);
        var onResource = _resourceTenantLength >= 0;
        var resourceValue = onResource ? _resourceTenant.AsSpan(0, _resourceTenantLength) : default;
        if (onPoint && onResource && (pointType != _resourceTenantType || !pointValue.SequenceEqual(resourceValue)))
        {
            return Refuse(pointType, pointValue, againstKey: false);
        }

        if (_binding is null)
        {
            return null;
        }

        var claimed = onPoint || onResource;
        var claimType = onPoint ? pointType : _resourceTenantType;
        var claim = onPoint ? pointValue : resourceValue;
        if (claimed && !_binding.AnyTenant && (claimType != AttributeValueType.String || !claim.SequenceEqual(_binding.TenantUtf8)))
        {
            return Refuse(claimType, claim, againstKey: true);
        }

        // Under a key every series carries its tenant, even where tenant.id is not a storage.resource_attributes entry.
        if (!onPoint && !key.ResourceHas(_attribute))
        {
            if (claimed)
            {
                key.AddPointValue(_attribute, claimType, claim);
            }
            else
            {
                key.AddPointValue(_attribute, AttributeValueType.String, _binding.TenantUtf8);
            }
        }

        return null;
    }

    /// <summary>The tenant the request's key is bound to, else the one the current resource names; null when neither names one.</summary>
    public string? Named()
    {
        if (_binding is { AnyTenant: false })
        {
            return _binding.Tenant;
        }

        return _resourceTenantLength < 0 ? null : _resourceTenantName ??= Shown(_resourceTenantType, _resourceTenant.AsSpan(0, _resourceTenantLength));
    }

    public void ReportStats(IngestStats stats)
    {
        foreach (var (tenant, count) in _mismatches)
        {
            stats.AddTenantMismatch(tenant, count);
        }
    }

    private string Refuse(AttributeValueType type, ReadOnlySpan<byte> claim, bool againstKey)
    {
        // Counted for the tenant that was written to: the key's, else the resource's.
        var tenant = againstKey ? _binding!.Tenant : _resourceTenantName ??= Shown(_resourceTenantType, _resourceTenant.AsSpan(0, _resourceTenantLength));
        _mismatches[tenant] = _mismatches.GetValueOrDefault(tenant) + 1;
        Detail ??= againstKey
            ? $"point claims {_attributeName}=\"{Shown(type, claim)}\" but the key is for \"{_binding!.Tenant}\""
            : $"point claims {_attributeName}=\"{Shown(type, claim)}\" but its resource says \"{tenant}\"";
        return RefusalReasons.TenantMismatch;
    }

    private static string Shown(AttributeValueType type, ReadOnlySpan<byte> value)
    {
        var text = AttributeReader.FormatValue(type, value);
        return text.Length <= MaxShownValue ? text : text[..MaxShownValue] + "…";
    }
}
