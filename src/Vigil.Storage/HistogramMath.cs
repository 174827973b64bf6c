namespace Vigil.Storage;

internal static class HistogramMath
{
    /// <summary>Moves counts to another explicit layout: each source bucket goes where its upper bound falls.</summary>
    public static long[] Rebucket(long[] counts, double[] bounds, double[] target)
    {
        var result = new long[target.Length + 1];
        for (var i = 0; i < counts.Length; i++)
        {
            var upper = i < bounds.Length ? bounds[i] : double.PositiveInfinity;
            var j = 0;
            while (j < target.Length && target[j] < upper)
            {
                j++;
            }

            result[j] += counts[i];
        }

        return result;
    }

    /// <summary>
    /// Quantile of explicit buckets by linear interpolation inside the bucket that holds the rank,
    /// as Prometheus' histogram_quantile does; the +Inf bucket answers its lower bound.
    /// </summary>
    public static double Quantile(double q, double[] bounds, long[] counts, double min, double max)
    {
        long total = 0;
        foreach (var c in counts)
        {
            total += Math.Max(c, 0);
        }

        if (total == 0 || double.IsNaN(q))
        {
            return double.NaN;
        }

        // The ends are exact when the points carried min/max; otherwise they fall through to the
        // bucket walk like any rank (q=0: lowest filled bucket's lower bound, q=1: highest's upper).
        if (q <= 0 && double.IsFinite(min))
        {
            return min;
        }

        if (q >= 1 && double.IsFinite(max))
        {
            return max;
        }

        q = Math.Clamp(q, 0, 1);

        var rank = q * total;
        double cumulative = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            var count = Math.Max(counts[i], 0);
            if (cumulative + count >= rank && count > 0)
            {
                if (i >= bounds.Length)
                {
                    return bounds.Length > 0 ? bounds[^1] : (double.IsFinite(max) ? max : double.NaN);
                }

                var upper = bounds[i];
                var lower = i == 0 ? (upper > 0 ? 0 : upper) : bounds[i - 1];

                return lower + ((upper - lower) * (rank - cumulative) / count);
            }

            cumulative += count;
        }

        return bounds.Length > 0 ? bounds[^1] : double.NaN;
    }

    /// <summary>Quantile of an exponential histogram: interpolated inside the bucket that holds the rank.</summary>
    public static double Quantile(double q, ExponentialBucket h)
    {
        long total = h.ZeroCount;
        for (var i = 0; i < h.Positive.Length; i++)
        {
            total += Math.Max(h.Positive.Counts[i], 0);
        }

        for (var i = 0; i < h.Negative.Length; i++)
        {
            total += Math.Max(h.Negative.Counts[i], 0);
        }

        if (total == 0 || double.IsNaN(q))
        {
            return double.NaN;
        }

        var rank = Math.Clamp(q, 0, 1) * total;
        var scaleBase = Math.Pow(2, Math.Pow(2, -h.Scale));
        double cumulative = 0;

        // Negative values, most negative first: bucket i holds (-base^(i+1), -base^i].
        for (var i = h.Negative.Length - 1; i >= 0; i--)
        {
            var count = Math.Max(h.Negative.Counts[i], 0);
            if (count > 0 && cumulative + count >= rank)
            {
                var index = h.Negative.Offset + i;
                var lower = -Math.Pow(scaleBase, index + 1);
                var upper = -Math.Pow(scaleBase, index);
                return Clamp(lower + ((upper - lower) * (rank - cumulative) / count), h);
            }

            cumulative += count;
        }

        if (h.ZeroCount > 0 && cumulative + h.ZeroCount >= rank)
        {
            return 0;
        }

        cumulative += h.ZeroCount;
        for (var i = 0; i < h.Positive.Length; i++)
        {
            var count = Math.Max(h.Positive.Counts[i], 0);
            if (count > 0 && cumulative + count >= rank)
            {
                var index = h.Positive.Offset + i;
                var lower = Math.Pow(scaleBase, index);
                var upper = Math.Pow(scaleBase, index + 1);
                return Clamp(lower + ((upper - lower) * (rank - cumulative) / count), h);
            }

            cumulative += count;
        }

        return double.IsFinite(h.Max) ? h.Max : double.NaN;
    }

    private static double Clamp(double value, ExponentialBucket h)
    {
        if (double.IsFinite(h.Min) && value < h.Min)
        {
            return h.Min;
        }

        return double.IsFinite(h.Max) && value > h.Max ? h.Max : value;
    }
}
