using System.Buffers.Binary;
using System.Text;

namespace Vigil.RemoteWrite.Tests;

/// <summary>One decoded sample: sorted labels (with __name__), unix ms, value.</summary>
public sealed record DecodedSample(IReadOnlyList<KeyValuePair<string, string>> Labels, long TimestampMs, double Value)
{
    public string Name => Labels.First(l => l.Key == "__name__").Value;

    public string? Label(string name) => Labels.FirstOrDefault(l => l.Key == name).Value;
}

/// <summary>
/// Reads a remote write 1.0 body the way a receiver does (snappy block, then WriteRequest protobuf), written from the
/// wire format independently of the encoder under test.
/// </summary>
public static class WriteRequestDecoder
{
    public static List<DecodedSample> Decode(byte[] snappyBody)
    {
        var raw = Snappier.Snappy.DecompressToArray(snappyBody);
        var samples = new List<DecodedSample>();
        var reader = new Reader(raw);
        while (!reader.End)
        {
            var (field, _) = reader.Tag();
            var series = reader.Bytes();
            Assert.Equal(1, field);
            var labels = new List<KeyValuePair<string, string>>();
            var points = new List<(long, double)>();
            var inner = new Reader(series);
            while (!inner.End)
            {
                var (f, _) = inner.Tag();
                var body = new Reader(inner.Bytes());
                if (f == 1)
                {
                    string name = string.Empty, value = string.Empty;
                    while (!body.End)
                    {
                        var (lf, _) = body.Tag();
                        var text = Encoding.UTF8.GetString(body.Bytes());
                        (name, value) = lf == 1 ? (text, value) : (name, text);
                    }

                    labels.Add(new(name, value));
                }
                else
                {
                    Assert.Equal(2, f);
                    double v = 0;
                    long t = 0;
                    while (!body.End)
                    {
                        var (sf, _) = body.Tag();
                        if (sf == 1)
                        {
                            v = body.Double();
                        }
                        else
                        {
                            t = (long)body.Varint();
                        }
                    }

                    points.Add((t, v));
                }
            }

            Assert.Equal(labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key), labels.Select(l => l.Key));
            samples.AddRange(points.Select(p => new DecodedSample(labels, p.Item1, p.Item2)));
        }

        return samples;
    }

    private sealed class Reader(byte[] data)
    {
        private int _at;

        public bool End => _at >= data.Length;

        public (int Field, int Wire) Tag()
        {
            var tag = (int)Varint();
            return (tag >> 3, tag & 7);
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = data[_at++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }
        }

        public byte[] Bytes()
        {
            var length = (int)Varint();
            var bytes = data.AsSpan(_at, length).ToArray();
            _at += length;
            return bytes;
        }

        public double Double()
        {
            var value = BinaryPrimitives.ReadDoubleLittleEndian(data.AsSpan(_at, 8));
            _at += 8;
            return value;
        }
    }
}
