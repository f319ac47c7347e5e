set terminal pngcairo size 1200,450
set output 'runs/fmnist-transformer-20k/curves.png'
set multiplot layout 1,2 title 'runs/fmnist-transformer-20k'
set xlabel 'step'
set grid
set key top right
set ylabel 'loss'
set logscale y
plot 'runs/fmnist-transformer-20k/curves.dat' index 0 using 1:2 with lines title 'train', '' index 1 using 1:2 with linespoints title 'validation'
unset logscale y
set ylabel 'accuracy'
set key bottom right
plot 'runs/fmnist-transformer-20k/curves.dat' index 0 using 1:3 with lines title 'train', '' index 1 using 1:3 with linespoints title 'validation'
unset multiplot
