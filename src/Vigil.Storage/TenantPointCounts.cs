using System.Text;
using Vigil.Otlp.Wire;

namespace Vigil.Storage;

/// <summary>
/// One request's points per tenant, counted during the check (<see cref="OtlpIngest.Check(ReadOnlySpan{byte}, TenantPointCounts?)"/>, <see cref="OtlpIngest.Prepare"/>)
/// under the tenant each point will be stored under, by the precedence <see cref="TenantResolver"/> applies:
/// the key's tenant, else the point's tenant attribute, else the resource's. Points that the resolver
/// will refuse as tenant_mismatch and points refused for their content are not counted: they are never
/// stored. Reused request after request; allocates only for a request naming more tenants than any before.
/// </summary>
public sealed class TenantPointCounts : IPointTenantTally
{
    private readonly byte[] _attribute;
    private TenantBinding? _binding;
    private byte[] _resource = new byte[64];
    private int _resourceLength = -1;
    private AttributeValueType _resourceType;
    private Entry[] _entries = new Entry[4];
    private int _last = -1;

    public TenantPointCounts(string tenantAttribute) => _attribute = Encoding.UTF8.GetBytes(tenantAttribute);

    /// <summary>Distinct tenants counted since <see cref="Reset"/>.</summary>
    public int Count { get; private set; }

    public void Reset(TenantBinding? binding)
    {
        _binding = binding;
        _resourceLength = -1;
        _last = -1;
        Count = 0;
    }

    /// <summary>Points counted for tenant <paramref name="index"/>.</summary>
    public long Points(int index) => _entries[index].Points;

    /// <summary>True for the points that name no tenant at all (no ingest key, no tenant attribute): they count as one tenant.</summary>
    public bool IsUntenanted(int index) => _entries[index].Type == AttributeValueType.Empty;

    /// <summary>The tenant's name as its series label shows it (empty when untenanted); decoded once per request into a reused buffer.</summary>
    public ReadOnlySpan<char> Name(int index)
    {
        ref var entry = ref _entries[index];
        if (entry.NameLength < 0)
        {
            var value = entry.Value.AsSpan(0, entry.Length);
            // A tenant attribute that is not a string is rare; its text may allocate.
            var text = entry.Type is AttributeValueType.String or AttributeValueType.Empty ? null : AttributeReader.FormatValue(entry.Type, value);
            var length = text?.Length ?? Encoding.UTF8.GetCharCount(value);
            if (entry.Name is null || entry.Name.Length < length)
            {
                entry.Name = new char[Math.Max(length, 16)];
            }

            if (text is null)
            {
                entry.NameLength = Encoding.UTF8.GetChars(value, entry.Name);
            }
            else
            {
                text.CopyTo(entry.Name);
                entry.NameLength = text.Length;
            }
        }

        return entry.Name!.AsSpan(0, entry.NameLength);
    }

    public void BeginResource(AttributeList resourceAttributes)
    {
        _resourceLength = -1;
        if (Find(resourceAttributes, out var type, out var value))
        {
            if (_resource.Length < value.Length)
            {
                _resource = new byte[value.Length];
            }

            value.CopyTo(_resource);
            _resourceLength = value.Length;
            _resourceType = type;
        }
    }

    public void Point(AttributeList pointAttributes)
    {
        var onPoint = Find(pointAttributes, out var pointType, out var pointValue);
        var onResource = _resourceLength >= 0;
        var resourceValue = _resource.AsSpan(0, Math.Max(_resourceLength, 0));
        if (onPoint && onResource && (pointType != _resourceType || !pointValue.SequenceEqual(resourceValue)))
        {
            return; // tenant_mismatch: refused, not stored
        }

        var claimed = onPoint || onResource;
        var claimType = onPoint ? pointType : onResource ? _resourceType : AttributeValueType.Empty;
        var claim = onPoint ? pointValue : resourceValue;
        if (_binding is not null && !claimed)
        {
            claimType = AttributeValueType.String;
            claim = _binding.TenantUtf8;
        }
        else if (_binding is { AnyTenant: false } && (claimType != AttributeValueType.String || !claim.SequenceEqual(_binding.TenantUtf8)))
        {
            return; // claims another tenant than the key's: tenant_mismatch
        }

        Add(claimType, claim);
    }

    private void Add(AttributeValueType type, ReadOnlySpan<byte> value)
    {
        // Points of one resource usually share a tenant: try the last one first.
        if (_last >= 0 && Matches(_last, type, value))
        {
            _entries[_last].Points++;
            return;
        }

        for (var i = 0; i < Count; i++)
        {
            if (Matches(i, type, value))
            {
                _entries[i].Points++;
                _last = i;
                return;
            }
        }

        if (Count == _entries.Length)
        {
            Array.Resize(ref _entries, _entries.Length * 2);
        }

        ref var entry = ref _entries[Count];
        if (entry.Value is null || entry.Value.Length < value.Length)
        {
            entry.Value = new byte[Math.Max(value.Length, 32)];
        }

        value.CopyTo(entry.Value);
        entry.Length = value.Length;
        entry.Type = type;
        entry.Points = 1;
        entry.NameLength = -1;
        _last = Count++;
    }

    private bool Matches(int index, AttributeValueType type, ReadOnlySpan<byte> value)
    {
        ref var entry = ref _entries[index];
        return entry.Type == type && entry.Value.AsSpan(0, entry.Length).SequenceEqual(value);
    }

    /// <summary>The first attribute named like the tenant attribute, as <see cref="SeriesKeyBuilder"/> keeps the first.</summary>
    private bool Find(AttributeList attributes, out AttributeValueType type, out ReadOnlySpan<byte> value)
    {
        var reader = attributes.GetReader();
        while (reader.MoveNext())
        {
            if (reader.Key.SequenceEqual(_attribute))
            {
                type = reader.ValueType;
                value = reader.Value;
                return true;
            }
        }

        type = AttributeValueType.Empty;
        value = default;
        return false;
    }

    private struct Entry
    {
        public byte[]? Value;
        public int Length;
        public AttributeValueType Type;
        public long Points;
        public char[]? Name;
        public int NameLength;
    }
}
