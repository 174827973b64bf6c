using System.Buffers.Binary;
using System.Diagnostics.Metrics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Rpc;

namespace Vigil.Collector.Tests;

/// <summary>
/// Request bodies are bounded before they are decoded, on both transports: the compressed size, the
/// decompressed size and the expansion ratio; broken gzip is refused, never half-read. The gRPC cases are
/// sent as handcrafted frames (flag byte + big-endian u32 length + payload) over h2c, because
/// Grpc.Net.Client cannot send a wrong length or a wrong compressed flag.
/// </summary>
public sealed class RequestBodyHardeningTests
{
    private const int SmallLimit = 64 * 1024;
    private const string ExportPath = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

    private static Task<VigilServer> StartSmallAsync() =>
        VigilServer.StartAsync(o => o with { Ingest = o.Ingest with { MaxRequestBytes = SmallLimit } });

    private static byte[] Gzip(byte[] data, CompressionLevel level = CompressionLevel.Optimal)
    {
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, level, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return compressed.ToArray();
    }

    /// <summary>An empty gzip member (RFC 1952): header, an empty final stored block, CRC-32 0 and size 0.</summary>
    private static readonly byte[] EmptyGzipMember = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];

    private static async Task<HttpResponseMessage> PostHttpAsync(VigilServer vigil, HttpContent content, string? encoding = "gzip")
    {
        using var http = new HttpClient { BaseAddress = vigil.OtlpHttpUri };
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        if (encoding is not null)
        {
            content.Headers.ContentEncoding.Add(encoding);
        }

        return await http.PostAsync("/v1/metrics", content);
    }

    private static async Task<Status> ReadStatusAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/x-protobuf", response.Content.Headers.ContentType?.MediaType);
        return Status.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
    }

    private static async Task AssertStillServesAsync(VigilServer vigil, string metric)
    {
        using var response = await PostHttpAsync(vigil, new ByteArrayContent(Gzip(OtlpRequests.DeltaCounter(metric, 3).Bytes())));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var api = new VigilApi(vigil.HttpUri);
        Assert.Equal(3, await api.ValueAsync(metric, "increase"));
    }

    /// <summary>The self-metric <c>vigil.ingest.requests.refused</c> of this server, by (transport, reason).</summary>
    private static Dictionary<(string Transport, string Reason), long> Refusals(VigilServer vigil)
    {
        var factory = vigil.Services.GetRequiredService<IMeterFactory>();
        var seen = new Dictionary<(string, string), long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == factory && instrument.Name == "vigil.ingest.requests.refused")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? transport = null, reason = null;
            foreach (var tag in tags)
            {
                transport = tag.Key == "transport" ? tag.Value as string : transport;
                reason = tag.Key == "reason" ? tag.Value as string : reason;
            }

            seen[(transport ?? "-", reason ?? "-")] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return seen;
    }

    /// <summary>Sends a body without Content-Length (chunked), as a streaming client would.</summary>
    private sealed class ChunkedContent(byte[] body) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (var offset = 0; offset < body.Length; offset += 16 * 1024)
            {
                await stream.WriteAsync(body.AsMemory(offset, Math.Min(16 * 1024, body.Length - offset)));
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    // ---- OTLP/HTTP ----

    [Fact]
    public async Task HttpGzipBomb_PastTheRatio_Is413NamingTheRatioSetting()
    {
        await using var vigil = await VigilServer.StartAsync();
        var ratio = vigil.Services.GetRequiredService<Configuration.VigilOptions>().Ingest.MaxDecompressionRatio;
        // 8 MiB of zeros: under the 20 MiB size limit, but about 1000 times its compressed size.
        var bomb = Gzip(new byte[8 * 1024 * 1024], CompressionLevel.SmallestSize);
        Assert.True(bomb.Length * (long)ratio < 8 * 1024 * 1024);

        using var response = await PostHttpAsync(vigil, new ByteArrayContent(bomb));
        var status = await ReadStatusAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal(8, status.Code); // RESOURCE_EXHAUSTED
        Assert.Equal($"gzip body expands to more than {ratio} times its compressed size (ingest.max_decompression_ratio); refused as a likely decompression bomb", status.Message);
        Assert.Equal(1, Refusals(vigil)[("http", "decompression_ratio")]);
        await AssertStillServesAsync(vigil, "after.ratio");
    }

    [Fact]
    public async Task HttpGzipBomb_PastTheSizeLimit_Is413NamingTheSetting()
    {
        await using var vigil = await StartSmallAsync();
        using var response = await PostHttpAsync(vigil, new ByteArrayContent(Gzip(new byte[1024 * 1024])));
        var status = await ReadStatusAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal(8, status.Code);
        Assert.Equal($"decompressed body exceeds the {SmallLimit} byte limit (ingest.max_request_size); send smaller batches (exporter batch size)", status.Message);
        Assert.Equal(1, Refusals(vigil)[("http", "body_too_large")]);
        await AssertStillServesAsync(vigil, "after.bomb");
    }

    [Fact]
    public async Task HttpConcatenatedEmptyGzipMembers_SentChunked_PastTheCompressedLimit_Are413()
    {
        await using var vigil = await StartSmallAsync();
        // Every member inflates to nothing, so only the compressed bytes can bound this body.
        var members = 4 * SmallLimit / EmptyGzipMember.Length;
        var body = new byte[members * EmptyGzipMember.Length];
        for (var i = 0; i < members; i++)
        {
            EmptyGzipMember.CopyTo(body, i * EmptyGzipMember.Length);
        }

        using var response = await PostHttpAsync(vigil, new ChunkedContent(body));
        var status = await ReadStatusAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal(8, status.Code);
        Assert.Equal($"compressed body exceeds the {SmallLimit} byte limit (ingest.max_request_size); send smaller batches (exporter batch size)", status.Message);
        Assert.Equal(1, Refusals(vigil)[("http", "compressed_body_too_large")]);
        await AssertStillServesAsync(vigil, "after.members");
    }

    [Fact]
    public async Task HttpPlainBody_SentChunked_PastTheLimit_Is413()
    {
        await using var vigil = await StartSmallAsync();
        var big = OtlpRequests.DeltaCounter("too.big", 1, points: 3000).Bytes();
        Assert.True(big.Length > SmallLimit);
        using var response = await PostHttpAsync(vigil, new ChunkedContent(big), encoding: null);
        var status = await ReadStatusAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal($"body exceeds the {SmallLimit} byte limit (ingest.max_request_size); send smaller batches (exporter batch size)", status.Message);
        Assert.Empty(vigil.Store.ListSeries("too.big"));
    }

    [Theory]
    [InlineData(1)]   // the last byte of the size
    [InlineData(8)]   // the whole trailer (CRC-32 and size)
    [InlineData(200)] // into the deflate data
    public async Task HttpGzip_CutShort_Is400TruncatedGzipBody_AndStoresNothing(int cut)
    {
        await using var vigil = await StartSmallAsync();
        var gzip = Gzip(OtlpRequests.DeltaCounter("cut.short", 5, points: 100).Bytes());
        Assert.True(gzip.Length > cut + 100);
        using var response = await PostHttpAsync(vigil, new ByteArrayContent(gzip[..^cut]));
        var status = await ReadStatusAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(3, status.Code); // INVALID_ARGUMENT
        Assert.Equal("truncated gzip body: it ends before the gzip trailer; send the whole body", status.Message);
        Assert.Empty(vigil.Store.ListSeries("cut.short"));
        Assert.Equal(1, Refusals(vigil)[("http", "truncated_gzip")]);
        await AssertStillServesAsync(vigil, "after.cut");
    }

    [Fact]
    public async Task HttpEmptyBody_WithGzipEncoding_Is400TruncatedGzipBody()
    {
        await using var vigil = await StartSmallAsync();
        using var response = await PostHttpAsync(vigil, new ByteArrayContent([]));
        var status = await ReadStatusAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal("truncated gzip body: it ends before the gzip trailer; send the whole body", status.Message);
    }

    [Fact]
    public async Task HttpBodyThatIsNotGzip_Is400WithTheDecoderMessage()
    {
        await using var vigil = await StartSmallAsync();
        var plain = OtlpRequests.DeltaCounter("not.gzip", 1).Bytes();
        var decoderMessage = Assert.Throws<InvalidDataException>(() => new GZipStream(new MemoryStream(plain), CompressionMode.Decompress).CopyTo(Stream.Null)).Message;

        using var response = await PostHttpAsync(vigil, new ByteArrayContent(plain));
        var status = await ReadStatusAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal($"Content-Encoding is gzip but the body is not valid gzip: {decoderMessage}", status.Message);
        Assert.Equal(1, Refusals(vigil)[("http", "invalid_gzip")]);
    }

    /// <summary>Four metrics of 8,000 series each (under the per-metric series limit): about 1.3 MB of protobuf.</summary>
    private static byte[] LargeRequest(string prefix, long value) =>
        OtlpRequests.Merge([.. Enumerable.Range(0, 4).Select(m => OtlpRequests.DeltaCounter($"{prefix}.{m}", value, points: 8000))]).Bytes();

    private static async Task AssertLargeRequestStoredAsync(VigilServer vigil, string prefix, long value)
    {
        using var api = new VigilApi(vigil.HttpUri);
        for (var m = 0; m < 4; m++)
        {
            Assert.Equal(8000 * value, (await api.AggregateAsync($"{prefix}.{m}", "increase")).Sum(s => s.Value));
        }
    }

    [Fact]
    public async Task HttpLargeBodies_UnderTheLimits_AreStoredWhole_GzipAndChunked()
    {
        await using var vigil = await VigilServer.StartAsync();
        // Many reads each way: the body is assembled from pieces and must come out byte for byte.
        var request = LargeRequest("big.gzip", 2);
        var gzip = Gzip(request);
        Assert.True(request.Length > 1024 * 1024 && request.Length < new Configuration.IngestOptions().MaxDecompressionRatio * gzip.Length);
        using (var response = await PostHttpAsync(vigil, new ByteArrayContent(gzip)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Null(ExportMetricsServiceResponse.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync()).PartialSuccess);
        }

        using (var response = await PostHttpAsync(vigil, new ChunkedContent(LargeRequest("big.plain", 3)), encoding: null))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await AssertLargeRequestStoredAsync(vigil, "big.gzip", 2);
        await AssertLargeRequestStoredAsync(vigil, "big.plain", 3);
    }

    [Fact]
    public async Task HttpGzipBomb_WithTheRatioCheckOff_MeetsOnlyTheSizeLimit()
    {
        await using var vigil = await VigilServer.StartAsync(o => o with { Ingest = o.Ingest with { MaxDecompressionRatio = 0, MaxRequestBytes = 4 * 1024 * 1024 } });
        using var response = await PostHttpAsync(vigil, new ByteArrayContent(Gzip(new byte[8 * 1024 * 1024], CompressionLevel.SmallestSize)));
        var status = await ReadStatusAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal($"decompressed body exceeds the {4 * 1024 * 1024} byte limit (ingest.max_request_size); send smaller batches (exporter batch size)", status.Message);
    }

    [Theory]
    [InlineData("250", 250, null)]
    [InlineData("0", 0, null)]
    [InlineData("1", 0, "ingest.max_decompression_ratio: must be 0 (no ratio check) or at least 2")]
    [InlineData("-5", 0, "ingest.max_decompression_ratio: must be 0 (no ratio check) or at least 2")]
    public void MaxDecompressionRatio_IsReadFromTheConfig_AndValidated(string value, int expected, string? problem)
    {
        var path = Path.Combine(Path.GetTempPath(), $"vigil-ratio-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, $"ingest:\n  max_decompression_ratio: {value}\n");
        try
        {
            if (problem is null)
            {
                Assert.Equal(expected, Configuration.ConfigLoader.Load(path, []).Ingest.MaxDecompressionRatio);
            }
            else
            {
                var error = Assert.Throws<Configuration.ConfigException>(() => Configuration.ConfigLoader.Load(path, []));
                // Prefixed with the place of the value, the line after "ingest:".
                Assert.Equal($"{path}:2:{"  max_decompression_ratio: ".Length + 1}: {problem}", Assert.Single(error.Problems));
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    // ---- OTLP/gRPC, raw frames ----

    private sealed record GrpcAnswer(int Status, string Message, byte[] Body);

    private static async Task<GrpcAnswer> CallRawGrpcAsync(VigilServer vigil, byte flag, uint length, byte[] payload, string? grpcEncoding)
    {
        var frame = new byte[5 + payload.Length];
        frame[0] = flag;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), length);
        payload.CopyTo(frame, 5);

        using var client = new HttpClient(new SocketsHttpHandler());
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(vigil.GrpcUri, ExportPath))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact, // h2c with prior knowledge, as gRPC clients do
            Content = new ByteArrayContent(frame),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.ParseAdd("trailers");
        if (grpcEncoding is not null)
        {
            request.Headers.Add("grpc-encoding", grpcEncoding);
        }

        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsByteArrayAsync();

        // A refusal before any message is "trailers-only": grpc-status arrives in the headers.
        string? Header(string name) =>
            response.TrailingHeaders.TryGetValues(name, out var trailer) ? trailer.First()
            : response.Headers.TryGetValues(name, out var header) ? header.First()
            : null;
        var status = Header("grpc-status");
        Assert.NotNull(status);
        return new GrpcAnswer(int.Parse(status, System.Globalization.CultureInfo.InvariantCulture), Uri.UnescapeDataString(Header("grpc-message") ?? ""), body);
    }

    [Fact]
    public async Task GrpcFrameLength0xFFFFFFFF_IsResourceExhausted()
    {
        await using var vigil = await StartSmallAsync();
        var answer = await CallRawGrpcAsync(vigil, 0, uint.MaxValue, new byte[16], grpcEncoding: null);
        Assert.Equal(8, answer.Status); // RESOURCE_EXHAUSTED
        Assert.Equal($"gRPC message of {uint.MaxValue} bytes exceeds the {SmallLimit} byte limit (ingest.max_request_size); send smaller batches (exporter batch size)", answer.Message);
        Assert.Equal(1, Refusals(vigil)[("grpc", "body_too_large")]);
    }

    [Fact]
    public async Task GrpcFrameLength_PastTheLimit_IsResourceExhaustedNamingTheSetting()
    {
        await using var vigil = await StartSmallAsync();
        var answer = await CallRawGrpcAsync(vigil, 1, SmallLimit + 1, new byte[16], grpcEncoding: "gzip");
        Assert.Equal(8, answer.Status);
        Assert.Equal($"gRPC message of {SmallLimit + 1} bytes exceeds the {SmallLimit} byte limit (ingest.max_request_size); send smaller batches (exporter batch size)", answer.Message);
        Assert.Equal(1, Refusals(vigil)[("grpc", "compressed_body_too_large")]);
    }

    [Fact]
    public async Task GrpcCompressedFlag_OnAPlainPayload_IsInternal_AsTheGrpcStatusTableSays()
    {
        await using var vigil = await StartSmallAsync();
        var plain = OtlpRequests.DeltaCounter("flagged.plain", 1).Bytes();
        var decoderMessage = Assert.Throws<InvalidDataException>(() => new GZipStream(new MemoryStream(plain), CompressionMode.Decompress).CopyTo(Stream.Null)).Message;

        var answer = await CallRawGrpcAsync(vigil, 1, (uint)plain.Length, plain, grpcEncoding: "gzip");
        Assert.Equal(13, answer.Status); // INTERNAL: "could not decompress, but compression algorithm supported"
        Assert.Equal($"grpc-encoding is gzip but the message is not valid gzip: {decoderMessage}", answer.Message);
        Assert.Empty(vigil.Store.ListSeries("flagged.plain"));
        Assert.Equal(1, Refusals(vigil)[("grpc", "invalid_gzip")]);
    }

    [Fact]
    public async Task GrpcCompressedFlag_NeitherZeroNorOne_IsInternal()
    {
        await using var vigil = await StartSmallAsync();
        var plain = OtlpRequests.DeltaCounter("flag.two", 1).Bytes();
        var answer = await CallRawGrpcAsync(vigil, 2, (uint)plain.Length, plain, grpcEncoding: null);
        Assert.Equal(13, answer.Status);
        Assert.Equal("gRPC message prefix has compressed flag 2; it must be 0 (not compressed) or 1 (compressed as grpc-encoding says)", answer.Message);
        Assert.Empty(vigil.Store.ListSeries("flag.two"));
        Assert.Equal(1, Refusals(vigil)[("grpc", "invalid_grpc_frame")]);
    }

    [Fact]
    public async Task GrpcCompressedFlag_WithoutGrpcEncoding_IsInternal()
    {
        await using var vigil = await StartSmallAsync();
        var plain = OtlpRequests.DeltaCounter("flagged.noencoding", 1).Bytes();
        var answer = await CallRawGrpcAsync(vigil, 1, (uint)plain.Length, plain, grpcEncoding: null);
        Assert.Equal(13, answer.Status);
        Assert.Contains("grpc-encoding", answer.Message);
        Assert.Empty(vigil.Store.ListSeries("flagged.noencoding"));
    }

    [Fact]
    public async Task GrpcGzipBomb_PastTheRatio_IsResourceExhausted()
    {
        await using var vigil = await VigilServer.StartAsync();
        var ratio = vigil.Services.GetRequiredService<Configuration.VigilOptions>().Ingest.MaxDecompressionRatio;
        var bomb = Gzip(new byte[8 * 1024 * 1024], CompressionLevel.SmallestSize);
        var answer = await CallRawGrpcAsync(vigil, 1, (uint)bomb.Length, bomb, grpcEncoding: "gzip");
        Assert.Equal(8, answer.Status);
        Assert.Equal($"gzip message expands to more than {ratio} times its compressed size (ingest.max_decompression_ratio); refused as a likely decompression bomb", answer.Message);
        Assert.Equal(1, Refusals(vigil)[("grpc", "decompression_ratio")]);
    }

    [Fact]
    public async Task GrpcGzipBomb_PastTheSizeLimit_IsResourceExhausted()
    {
        await using var vigil = await StartSmallAsync();
        var bomb = Gzip(new byte[1024 * 1024]);
        var answer = await CallRawGrpcAsync(vigil, 1, (uint)bomb.Length, bomb, grpcEncoding: "gzip");
        Assert.Equal(8, answer.Status);
        Assert.Equal($"decompressed message exceeds the {SmallLimit} byte limit (ingest.max_request_size); send smaller batches (exporter batch size)", answer.Message);
        Assert.Equal(1, Refusals(vigil)[("grpc", "body_too_large")]);
    }

    [Fact]
    public async Task GrpcGzip_CutShort_IsInternalTruncated_AndStoresNothing()
    {
        await using var vigil = await StartSmallAsync();
        var gzip = Gzip(OtlpRequests.DeltaCounter("grpc.cut", 5, points: 100).Bytes())[..^8];
        var answer = await CallRawGrpcAsync(vigil, 1, (uint)gzip.Length, gzip, grpcEncoding: "gzip");
        Assert.Equal(13, answer.Status);
        Assert.Equal("truncated gzip message: it ends before the gzip trailer; send the whole message", answer.Message);
        Assert.Empty(vigil.Store.ListSeries("grpc.cut"));
        Assert.Equal(1, Refusals(vigil)[("grpc", "truncated_gzip")]);
    }

    [Fact]
    public async Task GrpcEmptyMessage_FlaggedGzip_IsInternalTruncated()
    {
        await using var vigil = await StartSmallAsync();
        var answer = await CallRawGrpcAsync(vigil, 1, 0, [], grpcEncoding: "gzip");
        Assert.Equal(13, answer.Status);
        Assert.Equal("truncated gzip message: it ends before the gzip trailer; send the whole message", answer.Message);
    }

    [Fact]
    public async Task GrpcGzip_UnderTheLimits_IsStored()
    {
        await using var vigil = await VigilServer.StartAsync();
        var gzip = Gzip(LargeRequest("grpc.gzip", 4));
        var answer = await CallRawGrpcAsync(vigil, 1, (uint)gzip.Length, gzip, grpcEncoding: "gzip");
        Assert.Equal(0, answer.Status);
        // The body is the 5-byte prefix and an ExportMetricsServiceResponse with partial_success unset.
        Assert.Null(ExportMetricsServiceResponse.Parser.ParseFrom(answer.Body.AsSpan(5).ToArray()).PartialSuccess);
        await AssertLargeRequestStoredAsync(vigil, "grpc.gzip", 4);
    }
}
