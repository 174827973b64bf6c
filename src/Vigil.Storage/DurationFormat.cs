using System.Globalization;
using System.Text;

namespace Vigil.Storage;

/// <summary>Prometheus-style durations: <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>1h30m</c>, <c>7d</c>, <c>1w</c>.</summary>
public static class DurationFormat
{
    private static readonly long MaxMilliseconds = (long)TimeSpan.MaxValue.TotalMilliseconds;

    /// <summary>False for text that is not a duration, and for one longer than a <see cref="TimeSpan"/> holds (about 29,000 years).</summary>
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var span = text.AsSpan().Trim();
        if (span.SequenceEqual("0"))
        {
            return true;
        }

        long totalMs = 0;
        var i = 0;
        var lastRank = int.MaxValue;
        while (i < span.Length)
        {
            var start = i;
            while (i < span.Length && char.IsAsciiDigit(span[i]))
            {
                i++;
            }

            if (i == start || !long.TryParse(span[start..i], NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            var unitStart = i;
            while (i < span.Length && char.IsAsciiLetter(span[i]))
            {
                i++;
            }

            var (unitMs, rank) = span[unitStart..i] switch
            {
                "ms" => (1L, 0),
                "s" => (1000L, 1),
                "m" => (60_000L, 2),
                "h" => (3_600_000L, 3),
                "d" => (86_400_000L, 4),
                "w" => (604_800_000L, 5),
                _ => (0L, -1),
            };
            if (rank < 0 || rank >= lastRank)
            {
                return false;
            }

            lastRank = rank;
            if (number > (MaxMilliseconds - totalMs) / unitMs)
            {
                return false;
            }

            totalMs += number * unitMs;
        }

        duration = TimeSpan.FromMilliseconds(totalMs);
        return true;
    }

    public static TimeSpan Parse(string text, string what) =>
        TryParse(text, out var duration)
            ? duration
            : throw new FormatException($"{what}: '{text}' is not a duration; write e.g. 30s, 5m, 1h30m");

    public static string Format(TimeSpan duration)
    {
        if (duration == TimeSpan.Zero)
        {
            return "0s";
        }

        var builder = new StringBuilder();
        var ms = (long)duration.TotalMilliseconds;
        foreach (var (unit, size) in new[] { ("d", 86_400_000L), ("h", 3_600_000L), ("m", 60_000L), ("s", 1000L), ("ms", 1L) })
        {
            if (ms >= size)
            {
                builder.Append(ms / size).Append(unit);
                ms %= size;
            }
        }

        return builder.ToString();
    }
}
