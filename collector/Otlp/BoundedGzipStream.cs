using System.IO.Compression;

namespace Vigil.Collector.Otlp;

/// <summary>What a gzip stream is called in the refusal messages of one transport.</summary>
internal sealed record GzipPayload(string Noun, string EncodingHeader)
{
    public static readonly GzipPayload HttpBody = new("body", "Content-Encoding");

    public static readonly GzipPayload GrpcMessage = new("message", "grpc-encoding");
}

/// <summary>
/// Inflates gzip as it is read and refuses as soon as a bound is passed, so a bomb costs what was read
/// up to that point, never the size it would inflate to. Three bounds, each with its own reason:
/// the compressed bytes read (concatenated empty members inflate to nothing, so only they bound such a
/// body), the decompressed bytes (both <c>ingest.max_request_size</c>), and the expansion ratio
/// (<c>ingest.max_decompression_ratio</c>) once past <see cref="RatioFloorBytes"/>. A stream that ends
/// before its gzip trailer is refused as truncated, which needs <see cref="RequireStrictValidation"/>.
/// </summary>
internal sealed class BoundedGzipStream : ReadOnlyStream
{
    /// <summary>Decompressed bytes below which the ratio is not checked: a small body of repeated values may compress very well and costs nothing.</summary>
    public const int RatioFloorBytes = 1024 * 1024;

    private readonly CountingStream _compressed;
    private readonly GZipStream _gzip;
    private readonly long _limit;
    private readonly int _maxRatio;
    private readonly GzipPayload _payload;
    private readonly Func<BodyRefusedException, Exception> _refuse;
    private long _decompressed;

    /// <param name="refuse">What to throw for a refusal (gRPC turns it into an RpcException); the refusal itself by default.</param>
    public BoundedGzipStream(Stream compressed, long limit, int maxRatio, GzipPayload payload, Func<BodyRefusedException, Exception>? refuse = null)
    {
        _limit = limit;
        _maxRatio = maxRatio;
        _payload = payload;
        _refuse = refuse ?? (static refusal => refusal);
        _compressed = new CountingStream(compressed, limit, payload);
        _gzip = new GZipStream(_compressed, CompressionMode.Decompress, leaveOpen: true);
    }

    public override int Read(Span<byte> buffer)
    {
        int read;
        try
        {
            read = _gzip.Read(buffer);
        }
        catch (InvalidDataException e)
        {
            throw _refuse(Broken(e));
        }
        catch (BodyRefusedException e)
        {
            throw _refuse(e);
        }

        return Counted(read, buffer.Length);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read;
        try
        {
            read = await _gzip.ReadAsync(buffer, cancellationToken);
        }
        catch (InvalidDataException e)
        {
            throw _refuse(Broken(e));
        }
        catch (BodyRefusedException e)
        {
            throw _refuse(e);
        }

        return Counted(read, buffer.Length);
    }

    private int Counted(int read, int asked)
    {
        if (read == 0 && asked > 0 && _compressed.Count == 0)
        {
            // Not even a gzip header, and GZipStream takes no input for an empty stream.
            throw _refuse(Truncated());
        }

        _decompressed += read;
        if (_decompressed > _limit)
        {
            throw _refuse(BodyRefusedException.OverLimit(BodyRefusalReasons.TooLarge, $"decompressed {_payload.Noun}", _limit));
        }

        if (_maxRatio > 0 && _decompressed > RatioFloorBytes && _decompressed > (long)_maxRatio * _compressed.Count)
        {
            throw _refuse(new BodyRefusedException(
                BodyRefusalReasons.DecompressionRatio,
                $"gzip {_payload.Noun} expands to more than {_maxRatio} times its compressed size (ingest.max_decompression_ratio); refused as a likely decompression bomb"));
        }

        return read;
    }

    // With strict validation the decoder reports a stream cut short right after its source ran dry; every
    // other decoding error comes while it still has input to work on.
    private BodyRefusedException Broken(InvalidDataException e) => _compressed.Ended
        ? Truncated()
        : new(BodyRefusalReasons.InvalidGzip, $"{_payload.EncodingHeader} is gzip but the {_payload.Noun} is not valid gzip: {e.Message}");

    private BodyRefusedException Truncated() =>
        new(BodyRefusalReasons.TruncatedGzip, $"truncated gzip {_payload.Noun}: it ends before the gzip trailer; send the whole {_payload.Noun}");

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _gzip.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _gzip.DisposeAsync();
        await base.DisposeAsync();
    }

    /// <summary>
    /// Fails fast unless the runtime reports a gzip stream cut short: without
    /// <c>System.IO.Compression.UseStrictValidation</c> GZipStream returns what it inflated and ends
    /// quietly, so a body missing its end would be accepted. The switch is set for every Vigil
    /// executable in Directory.Build.props (it lands in the runtimeconfig.json).
    /// </summary>
    public static void RequireStrictValidation()
    {
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write("vigil"u8);
        }

        try
        {
            using var cut = new GZipStream(new MemoryStream(compressed.GetBuffer(), 0, (int)compressed.Length - 1), CompressionMode.Decompress);
            cut.CopyTo(Stream.Null);
        }
        catch (InvalidDataException)
        {
            return;
        }

        throw new InvalidOperationException(
            "the runtime accepts gzip streams cut short; set \"System.IO.Compression.UseStrictValidation\": true in the runtimeconfig.json (Directory.Build.props does this for Vigil's own builds)");
    }

    /// <summary>Counts the compressed bytes as the decoder pulls them, and remembers when the source ran dry.</summary>
    private sealed class CountingStream(Stream inner, long limit, GzipPayload payload) : ReadOnlyStream
    {
        public long Count { get; private set; }

        public bool Ended { get; private set; }

        public override int Read(Span<byte> buffer) => Counted(inner.Read(buffer), buffer.Length);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Counted(await inner.ReadAsync(buffer, cancellationToken), buffer.Length);

        private int Counted(int read, int asked)
        {
            Ended |= read == 0 && asked > 0;
            Count += read;
            if (Count > limit)
            {
                throw BodyRefusedException.OverLimit(BodyRefusalReasons.CompressedTooLarge, $"compressed {payload.Noun}", limit);
            }

            return read;
        }
    }
}

/// <summary>The members every read-only, forward-only stream writes the same way.</summary>
internal abstract class ReadOnlyStream : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public abstract override int Read(Span<byte> buffer);

    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
