using System.Buffers.Binary;
using ZstdSharp;

namespace Vigil.Storage.Wal;

/// <summary>
/// Packs the records of one group commit into one compressed block frame (<see cref="WalFormat"/>).
/// The requests of a batch repeat the same metric, attribute and resource names, so a block compresses
/// far better than each record alone (decision 030 has the figures). Used by the writer loop only.
/// </summary>
internal sealed class WalBlockWriter : IDisposable
{
    /// <summary>A block is closed past this many uncompressed bytes, so replay never holds more than one such block.</summary>
    public const int TargetBytes = 4 << 20;

    /// <summary>Below this, records are written as they are: a block would not pay for its header.</summary>
    public const int MinBytes = 256;

    /// <summary>Zstandard's fastest regular level: the ratio levels 2-3 add on OTLP is small, the CPU is not.</summary>
    private const int Level = 1;

    private const int InitialBytes = 1 << 16;
    private const int FrameStart = WalFormat.RecordHeaderBytes + WalFormat.BlockPrefixBytes;

    private readonly Compressor _zstd = new(Level);

    // Both buffers live as long as the writer and only grow (up to one oversized record, then shrink back):
    // a batch costs no allocation once they have reached the working size.
    private byte[] _raw = new byte[InitialBytes];
    private byte[] _frame = new byte[FrameStart + Compressor.GetCompressBound(InitialBytes)];
    private int _rawLength;

    /// <summary>Uncompressed bytes added since the last <see cref="Clear"/>.</summary>
    public int RawLength => _rawLength;

    public void Add(ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> payload)
    {
        var length = prefix.Length + payload.Length;
        var needed = _rawLength + 5 + length;
        if (needed > _raw.Length)
        {
            Array.Resize(ref _raw, Math.Max(needed, Math.Min(_raw.Length * 2, Math.Max(needed, TargetBytes + (TargetBytes / 4)))));
        }

        _rawLength += Varint.Write(_raw.AsSpan(_rawLength), (uint)length);
        prefix.CopyTo(_raw.AsSpan(_rawLength));
        _rawLength += prefix.Length;
        payload.CopyTo(_raw.AsSpan(_rawLength));
        _rawLength += payload.Length;
    }

    /// <summary>
    /// The whole block frame (header included) of what was added, or false when compressing does not make it
    /// smaller than the records as they are (then the caller writes those).
    /// </summary>
    public bool TrySeal(long unixMs, out ReadOnlySpan<byte> frame)
    {
        var bound = FrameStart + Compressor.GetCompressBound(_rawLength);
        if (_frame.Length < bound)
        {
            _frame = new byte[bound];
        }

        var compressed = _zstd.Wrap(_raw.AsSpan(0, _rawLength), _frame.AsSpan(FrameStart));
        if (WalFormat.BlockPrefixBytes + compressed >= _rawLength)
        {
            frame = default;
            return false;
        }

        var payload = _frame.AsSpan(WalFormat.RecordHeaderBytes, WalFormat.BlockPrefixBytes + compressed);
        payload[0] = WalFormat.ZstdCodec;
        BinaryPrimitives.WriteInt32LittleEndian(payload[1..], _rawLength);
        WalFormat.WriteBlockHeader(_frame, payload, unixMs);
        frame = _frame.AsSpan(0, WalFormat.RecordHeaderBytes + payload.Length);
        return true;
    }

    /// <summary>Starts the next block; gives back buffers an oversized record grew far past the block size.</summary>
    public void Clear()
    {
        _rawLength = 0;
        if (_raw.Length > 2 * TargetBytes)
        {
            _raw = new byte[TargetBytes + (TargetBytes / 4)];
            _frame = new byte[FrameStart + Compressor.GetCompressBound(_raw.Length)];
        }
    }

    public void Dispose() => _zstd.Dispose();
}

/// <summary>Unpacks block frames on replay; one per replay, its buffer reused from block to block.</summary>
internal sealed class WalBlockReader : IDisposable
{
    private readonly Decompressor _zstd = new();
    private byte[] _raw = new byte[1 << 16];

    /// <summary>
    /// Decompresses a block frame's payload (its checksum already verified); null with the reason when it
    /// cannot be: a codec this Vigil does not know, a length over <see cref="WalFormat.MaxBlockBytes"/>, or data that
    /// does not decompress to exactly the length it claims.
    /// </summary>
    public string? TryUnpack(ReadOnlySpan<byte> payload, out ReadOnlySpan<byte> records)
    {
        records = default;
        if (payload.Length < WalFormat.BlockPrefixBytes)
        {
            return $"block of {payload.Length} bytes, shorter than its {WalFormat.BlockPrefixBytes}-byte prefix";
        }

        if (payload[0] != WalFormat.ZstdCodec)
        {
            return $"block of unknown codec {payload[0]} (a newer Vigil wrote it?)";
        }

        var length = BinaryPrimitives.ReadInt32LittleEndian(payload[1..]);
        if (length < 0 || length > WalFormat.MaxBlockBytes)
        {
            return $"block claims {length} uncompressed bytes, over the {WalFormat.MaxBlockBytes}-byte limit";
        }

        if (_raw.Length < length)
        {
            _raw = new byte[Math.Max(length, Math.Min(WalFormat.MaxBlockBytes, _raw.Length * 2))];
        }

        int written;
        try
        {
            written = _zstd.Unwrap(payload[WalFormat.BlockPrefixBytes..], _raw.AsSpan(0, length));
        }
        catch (Exception e) when (e is ZstdException or ArgumentException)
        {
            // Damaged data that passed its checksum (or a writer bug): a block lost, never a replay that throws.
            return $"block does not decompress ({e.Message})";
        }

        if (written != length)
        {
            return $"block decompresses to {written} bytes, not the {length} it claims";
        }

        records = _raw.AsSpan(0, length);
        return null;
    }

    public void Dispose() => _zstd.Dispose();
}
